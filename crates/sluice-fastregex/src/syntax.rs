//! The Fast Regex pattern language, as the SQL Reference's table lists it
//! (the automaton syntax of dk.brics, which SQLstream's parser took):
//!
//! | construct | meaning |
//! |---|---|
//! | `[a-z0-9]`, `[^ ]` | character class, negated class (`-` a range, ends included) |
//! | `x|y` | union |
//! | `x?` `x*` `x+` `x{n}` `x{n,}` `x{n,m}` | repetition |
//! | `.` | any single character |
//! | `#` | the empty language (matches nothing) |
//! | `@` | any string |
//! | `"text"` | the text, literally |
//! | `()` | the empty string |
//! | `(x)` | precedence (a top-level group is also a column) |
//! | `<n-m>` | a decimal number from n to m (zero-padded to the width of n and m when both have the same width; any leading zeros otherwise) |
//! | `\c` | the character c, literally |
//!
//! Every other character stands for itself (`^`, `$` and `]` too). The
//! table's intersection `&` and named automata `<name>` need automaton
//! operations Sluice does not have and are refused by name, as are the Java
//! class escapes (`\d`, `\s`, `\w`, ...) and a leading `^` / trailing `$`,
//! which in this language are literal characters — a pattern written with
//! them in Java's sense would silently match nothing.
//!
//! [`parse`] gives a [`Node`] tree; [`Node::to_regex`] writes it in the
//! syntax of the `regex` crates, and [`Node::fixed_len`] tells whether every
//! string it matches has the same number of characters.

use crate::FastRegexError;

/// A parsed Fast Regex (or part of one).
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// `()`: the empty string.
    Empty,
    /// `#`: no string at all.
    Nothing,
    /// `@`: any string.
    AnyString,
    /// `.`: any one character.
    AnyChar,
    /// Characters that stand for themselves.
    Literal(String),
    /// `[...]` or `[^...]`: inclusive character ranges.
    Class {
        /// `[^...]`.
        negated: bool,
        /// The ranges, ends included.
        ranges: Vec<(char, char)>,
    },
    /// `<n-m>`: a decimal number from `min` to `max`; `width` > 0 fixes the
    /// number of digits (zero-padded), 0 allows any leading zeros.
    Interval {
        /// The smallest number.
        min: u64,
        /// The largest number.
        max: u64,
        /// Fixed width, or 0.
        width: usize,
    },
    /// One after the other.
    Concat(Vec<Node>),
    /// Any of.
    Union(Vec<Node>),
    /// `x{min,max}` (`max` `None`: no upper bound).
    Repeat {
        /// What repeats.
        node: Box<Node>,
        /// Fewest times.
        min: u32,
        /// Most times, if bounded.
        max: Option<u32>,
    },
    /// `( ... )`: a parenthesized expression.
    Group(Box<Node>),
}

impl Node {
    /// The number of characters of every string this matches, if they all
    /// have the same length.
    pub fn fixed_len(&self) -> Option<usize> {
        match self {
            Node::Empty => Some(0),
            Node::Nothing | Node::AnyString => None,
            Node::AnyChar | Node::Class { .. } => Some(1),
            Node::Literal(s) => Some(s.chars().count()),
            Node::Interval { width, .. } => (*width > 0).then_some(*width),
            Node::Concat(items) => items.iter().map(Node::fixed_len).sum(),
            Node::Union(items) => {
                let first = items.first()?.fixed_len()?;
                items
                    .iter()
                    .all(|i| i.fixed_len() == Some(first))
                    .then_some(first)
            }
            Node::Repeat { node, min, max } => {
                if Some(*min) == *max {
                    node.fixed_len().map(|n| n * *min as usize)
                } else {
                    None
                }
            }
            Node::Group(inner) => inner.fixed_len(),
        }
    }

    /// The same language in the syntax of the `regex` crates.
    pub fn to_regex(&self) -> String {
        let mut out = String::new();
        self.write_regex(&mut out);
        out
    }

    fn write_regex(&self, out: &mut String) {
        match self {
            Node::Empty => out.push_str("(?:)"),
            // An empty class: no character, so no string, matches.
            Node::Nothing => out.push_str("[a&&b]"),
            Node::AnyString => out.push_str("(?s:.*)"),
            Node::AnyChar => out.push_str("(?s:.)"),
            Node::Literal(s) => {
                out.push_str("(?:");
                for c in s.chars() {
                    push_escaped(out, c);
                }
                out.push(')');
            }
            Node::Class { negated, ranges } => {
                out.push('[');
                if *negated {
                    out.push('^');
                }
                if ranges.is_empty() {
                    // `[]` matches nothing, `[^]` anything.
                    out.push_str("a&&b");
                }
                for (lo, hi) in ranges {
                    push_escaped(out, *lo);
                    if lo != hi {
                        out.push('-');
                        push_escaped(out, *hi);
                    }
                }
                out.push(']');
            }
            Node::Interval { min, max, width } => {
                out.push_str("(?:");
                out.push_str(&interval_regex(*min, *max, *width));
                out.push(')');
            }
            Node::Concat(items) => {
                out.push_str("(?:");
                for i in items {
                    i.write_regex(out);
                }
                out.push(')');
            }
            Node::Union(items) => {
                out.push_str("(?:");
                for (k, i) in items.iter().enumerate() {
                    if k > 0 {
                        out.push('|');
                    }
                    i.write_regex(out);
                }
                out.push(')');
            }
            Node::Repeat { node, min, max } => {
                out.push_str("(?:");
                node.write_regex(out);
                out.push(')');
                match max {
                    Some(max) => out.push_str(&format!("{{{min},{max}}}")),
                    None => out.push_str(&format!("{{{min},}}")),
                }
            }
            Node::Group(inner) => inner.write_regex(out),
        }
    }
}

/// `c` for the regex crates: their meta characters escaped, the rest as is.
fn push_escaped(out: &mut String, c: char) {
    if "\\.+*?()|[]{}^$#&-~".contains(c) {
        out.push('\\');
    }
    out.push(c);
}

/// A regex for the decimal numbers `min..=max`: `width` digits each
/// (zero-padded) when `width` > 0, else any number of leading zeros.
fn interval_regex(min: u64, max: u64, width: usize) -> String {
    if width > 0 {
        let lo = format!("{min:0width$}");
        let hi = format!("{max:0width$}");
        return same_width(lo.as_bytes(), hi.as_bytes());
    }
    // Split the range by number of digits, numbers written without leading
    // zeros, then allow any zeros in front.
    let mut parts = Vec::new();
    let mut digits = min.to_string().len();
    let top = max.to_string().len();
    while digits <= top {
        let floor = if digits == 1 {
            0
        } else {
            10u64.pow(digits as u32 - 1)
        };
        let ceiling = 10u64.checked_pow(digits as u32).map_or(u64::MAX, |p| p - 1);
        let lo = min.max(floor);
        let hi = max.min(ceiling);
        if lo <= hi {
            parts.push(same_width(
                lo.to_string().as_bytes(),
                hi.to_string().as_bytes(),
            ));
        }
        digits += 1;
    }
    format!("0*(?:{})", parts.join("|"))
}

/// A regex for the digit strings from `lo` to `hi`, both of one width.
fn same_width(lo: &[u8], hi: &[u8]) -> String {
    let Some((&l, lo_rest)) = lo.split_first() else {
        return String::new();
    };
    let Some((&h, hi_rest)) = hi.split_first() else {
        return String::new();
    };
    if l == h {
        return format!("{}{}", l as char, same_width(lo_rest, hi_rest));
    }
    let rest = lo_rest.len();
    if lo_rest.iter().all(|&d| d == b'0') && hi_rest.iter().all(|&d| d == b'9') {
        return format!("[{}-{}][0-9]{{{rest}}}", l as char, h as char);
    }
    let nines = vec![b'9'; rest];
    let zeros = vec![b'0'; rest];
    let mut parts = vec![format!("{}(?:{})", l as char, same_width(lo_rest, &nines))];
    if h - l > 1 {
        parts.push(format!(
            "[{}-{}][0-9]{{{rest}}}",
            (l + 1) as char,
            (h - 1) as char
        ));
    }
    parts.push(format!("{}(?:{})", h as char, same_width(&zeros, hi_rest)));
    format!("(?:{})", parts.join("|"))
}

/// Parses a whole Fast Regex pattern.
pub fn parse(pattern: &str) -> Result<Node, FastRegexError> {
    let mut p = Parser {
        pattern,
        chars: pattern.chars().collect(),
        at: 0,
    };
    if p.chars.first() == Some(&'^') {
        return Err(p.error(
            0,
            "'^' is a literal character in a Fast Regex, and the pattern always matches the whole string: drop it, or write \\^ for the character",
        ));
    }
    if p.chars.len() > 1
        && p.chars.last() == Some(&'$')
        && p.chars.get(p.chars.len() - 2) != Some(&'\\')
    {
        return Err(p.error(
            p.chars.len() - 1,
            "'$' is a literal character in a Fast Regex, and the pattern always matches the whole string: drop it, or write \\$ for the character",
        ));
    }
    let node = p.union()?;
    if p.at < p.chars.len() {
        return Err(p.error(p.at, "unbalanced ')'"));
    }
    Ok(node)
}

struct Parser<'a> {
    pattern: &'a str,
    chars: Vec<char>,
    at: usize,
}

impl Parser<'_> {
    fn error(&self, at: usize, reason: &str) -> FastRegexError {
        FastRegexError::Syntax {
            pattern: self.pattern.to_string(),
            position: at + 1,
            reason: reason.to_string(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn union(&mut self) -> Result<Node, FastRegexError> {
        let mut items = vec![self.concat()?];
        while self.eat('|') {
            items.push(self.concat()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Node::Union(items)
        })
    }

    fn concat(&mut self) -> Result<Node, FastRegexError> {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            match c {
                ')' | '|' => break,
                '&' => {
                    return Err(self.error(
                        self.at,
                        "the intersection '&' is not supported by Sluice's FAST_REGEX_LOG_PARSE (write \\& for the character)",
                    ));
                }
                _ => items.push(self.repeat()?),
            }
        }
        Ok(match items.len() {
            0 => Node::Empty,
            1 => items.remove(0),
            _ => Node::Concat(items),
        })
    }

    fn repeat(&mut self) -> Result<Node, FastRegexError> {
        let mut node = self.class()?;
        loop {
            let (min, max) = match self.peek() {
                Some('?') => (0, Some(1)),
                Some('*') => (0, None),
                Some('+') => (1, None),
                Some('{') => {
                    let start = self.at;
                    self.at += 1;
                    let min = self.number().ok_or_else(|| {
                        self.error(start, "'{' must be followed by a count: {n}, {n,} or {n,m}")
                    })?;
                    let max = if self.eat(',') {
                        if self.peek() == Some('}') {
                            None
                        } else {
                            Some(self.number().ok_or_else(|| {
                                self.error(self.at, "expected a count after ',' in {n,m}")
                            })?)
                        }
                    } else {
                        Some(min)
                    };
                    if !self.eat('}') {
                        return Err(self.error(self.at, "expected '}' to close {n,m}"));
                    }
                    if max.is_some_and(|m| m < min) {
                        return Err(self.error(start, "in {n,m}, m must not be less than n"));
                    }
                    node = Node::Repeat {
                        node: Box::new(node),
                        min,
                        max,
                    };
                    continue;
                }
                _ => return Ok(node),
            };
            self.at += 1;
            node = Node::Repeat {
                node: Box::new(node),
                min,
                max,
            };
        }
    }

    fn number(&mut self) -> Option<u32> {
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        self.chars[start..self.at]
            .iter()
            .collect::<String>()
            .parse()
            .ok()
    }

    fn class(&mut self) -> Result<Node, FastRegexError> {
        if self.peek() == Some('~') {
            return Err(self.error(
                self.at,
                "the complement '~' is not supported by Sluice's FAST_REGEX_LOG_PARSE (write \\~ for the character)",
            ));
        }
        if !self.eat('[') {
            return self.simple();
        }
        let start = self.at - 1;
        let negated = self.eat('^');
        let mut ranges = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.error(start, "'[' is not closed by ']'")),
                Some(']') => {
                    self.at += 1;
                    break;
                }
                Some(_) => {
                    let lo = self.char_exp()?;
                    let hi = if self.peek() == Some('-')
                        && self.chars.get(self.at + 1).is_some_and(|&c| c != ']')
                    {
                        self.at += 1;
                        self.char_exp()?
                    } else {
                        lo
                    };
                    if hi < lo {
                        return Err(
                            self.error(self.at - 1, "a class range must go upwards, as a-z")
                        );
                    }
                    ranges.push((lo, hi));
                }
            }
        }
        Ok(Node::Class { negated, ranges })
    }

    fn simple(&mut self) -> Result<Node, FastRegexError> {
        let start = self.at;
        match self.peek() {
            Some('.') => {
                self.at += 1;
                Ok(Node::AnyChar)
            }
            Some('#') => {
                self.at += 1;
                Ok(Node::Nothing)
            }
            Some('@') => {
                self.at += 1;
                Ok(Node::AnyString)
            }
            Some('"') => {
                self.at += 1;
                let mut text = String::new();
                loop {
                    match self.peek() {
                        None => return Err(self.error(start, "'\"' is not closed by '\"'")),
                        Some('"') => {
                            self.at += 1;
                            return Ok(Node::Literal(text));
                        }
                        Some(c) => {
                            text.push(c);
                            self.at += 1;
                        }
                    }
                }
            }
            Some('(') => {
                self.at += 1;
                if self.eat(')') {
                    return Ok(Node::Group(Box::new(Node::Empty)));
                }
                let inner = self.union()?;
                if !self.eat(')') {
                    return Err(self.error(start, "'(' is not closed by ')'"));
                }
                Ok(Node::Group(Box::new(inner)))
            }
            Some('<') => {
                self.at += 1;
                let body_start = self.at;
                while self.peek().is_some_and(|c| c != '>') {
                    self.at += 1;
                }
                if !self.eat('>') {
                    return Err(self.error(start, "'<' is not closed by '>'"));
                }
                let body: String = self.chars[body_start..self.at - 1].iter().collect();
                interval(&body).ok_or_else(|| {
                    self.error(
                        start,
                        &format!(
                            "<{body}> is a named automaton, which Sluice's FAST_REGEX_LOG_PARSE does not have; <n-m> is a number from n to m (write \\< for the character)"
                        ),
                    )
                })
            }
            _ => Ok(Node::Literal(self.char_exp()?.to_string())),
        }
    }

    fn char_exp(&mut self) -> Result<char, FastRegexError> {
        let start = self.at;
        let Some(c) = self.peek() else {
            return Err(self.error(start, "the pattern ends too early"));
        };
        self.at += 1;
        if c != '\\' {
            return Ok(c);
        }
        let Some(e) = self.peek() else {
            return Err(self.error(start, "'\\' at the end of the pattern escapes nothing"));
        };
        self.at += 1;
        if "dDsSwWbBntrfAzZQE".contains(e) || e.is_ascii_digit() {
            return Err(self.error(
                start,
                &format!(
                    "\\{e} is the letter {e} in a Fast Regex, not a Java class or escape: write a class such as [0-9] or [^ ] instead, or {e} alone for the letter"
                ),
            ));
        }
        Ok(e)
    }
}

/// `n-m` of `<n-m>`, if the text is one.
fn interval(body: &str) -> Option<Node> {
    let (lo, hi) = body.split_once('-')?;
    if lo.is_empty() || hi.is_empty() || !lo.bytes().chain(hi.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (min, max): (u64, u64) = (lo.parse().ok()?, hi.parse().ok()?);
    let (min, max) = (min.min(max), min.max(max));
    let width = if lo.len() == hi.len() { lo.len() } else { 0 };
    Some(Node::Interval { min, max, width })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(pattern: &str, text: &str) -> bool {
        let node = parse(pattern).expect("parses");
        let re = regex_automata::hybrid::regex::Regex::new(&format!("^(?:{})$", node.to_regex()))
            .expect("compiles");
        re.is_match(&mut re.create_cache(), text)
    }

    #[test]
    fn constructs_of_the_reference_table_match_their_strings() {
        assert!(full("[a-c]x", "bx"));
        assert!(!full("[^a-c]x", "bx"));
        assert!(full("ab|cd", "cd"));
        assert!(full("a?b*c+", "cc"));
        assert!(full("a{2}b{1,}c{1,2}", "aabbbcc"));
        assert!(!full("a{2}", "aaa"));
        assert!(full(".", "\n"));
        assert!(!full("#", ""));
        assert!(!full("a#", "a"));
        assert!(full("@", "any thing"));
        assert!(full("\"a*b\"", "a*b"));
        assert!(full("a()b", "ab"));
        assert!(full("(ab)+", "abab"));
        assert!(full("\\*\\[", "*["));
        assert!(full("x^y$z", "x^y$z"));
        assert!(full("a]b}", "a]b}"));
    }

    #[test]
    fn numeric_intervals_with_and_without_a_fixed_width() {
        for n in 0..=300 {
            assert_eq!(
                full("<7-213>", &n.to_string()),
                (7..=213).contains(&n),
                "{n}"
            );
            assert_eq!(
                full("<007-213>", &format!("{n:03}")),
                (7..=213).contains(&n),
                "{n:03}"
            );
        }
        assert!(full("<7-213>", "0042"));
        assert!(!full("<007-213>", "42"));
        assert!(full("<0-9>", "0"));
    }

    #[test]
    fn fixed_lengths() {
        let len = |p: &str| parse(p).expect("parses").fixed_len();
        assert_eq!(len("ab[0-9]."), Some(4));
        assert_eq!(len("(ab|cd)x{3}"), Some(5));
        assert_eq!(len("a|bc"), None);
        assert_eq!(len("a*"), None);
        assert_eq!(len("<00-99>"), Some(2));
        assert_eq!(len("\"quoted\""), Some(6));
    }

    #[test]
    fn java_habits_and_missing_operators_are_refused_by_name() {
        let err = |p: &str| parse(p).expect_err("refused").to_string();
        assert!(err("(\\d+)").contains("\\d is the letter d"));
        assert!(err("^(.*)").contains("'^' is a literal"));
        assert!(err("(.*)$").contains("'$' is a literal"));
        assert!(err("(a&b)").contains("intersection"));
        assert!(err("~a").contains("complement"));
        assert!(err("<word>").contains("named automaton"));
        assert!(err("(ab").contains("not closed"));
        assert!(err("ab)").contains("unbalanced"));
        assert!(err("a{3,1}").contains("must not be less"));
        assert!(parse("(.*)\\$").is_ok());
    }
}
