//! Java (`java.util.regex`) patterns and replacement strings, translated for
//! Rust's `regex` crate.
//!
//! KDA evaluates REGEX_REPLACE, SUBSTRING(.. FROM regex) and the log
//! parsers with `java.util.regex`. [`translate`] rewrites what differs and
//! `regex` can express (`\d \w \s` and `.` are ASCII/line-terminator aware
//! in Java, `\Q..\E` quoting, `\e`, `\a`, octal escapes) and rejects what it
//! cannot — backreferences, lookahead/lookbehind, atomic groups, possessive
//! quantifiers, `\G`, `\Z`, Java-only classes — naming the construct.
//! [`Replacement`] parses Java's `$n` / `${name}` / `\x` replacement syntax.

use regex::{Captures, Regex};

/// Why a Java pattern cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegexError {
    /// The pattern as written.
    pub pattern: String,
    /// What is wrong, naming the construct.
    pub message: String,
}

impl std::fmt::Display for RegexError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "regular expression '{}': {}", self.pattern, self.message)
    }
}

const DIGIT: &str = "0-9";
const WORD: &str = "a-zA-Z0-9_";
const SPACE: &str = " \\t\\n\\x0B\\f\\r";

/// Translates a Java regular expression into Rust `regex` syntax.
pub fn translate(pattern: &str) -> Result<String, RegexError> {
    let err = |message: String| RegexError {
        pattern: pattern.to_string(),
        message,
    };
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut class_depth = 0usize;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                let Some(&n) = chars.get(i + 1) else {
                    return Err(err("it ends with a lone backslash".into()));
                };
                i += 2;
                match n {
                    '1'..='9' => {
                        return Err(err(format!(
                            "backreference \\{n} is not supported (Rust's regex has no backreferences)"
                        )));
                    }
                    'k' => {
                        return Err(err(
                            "named backreference \\k<..> is not supported (Rust's regex has no backreferences)".into(),
                        ));
                    }
                    'G' => return Err(err("\\G (end of previous match) is not supported".into())),
                    'Z' => {
                        return Err(err(
                            "\\Z (end before a final line terminator) is not supported; use $ or \\z".into(),
                        ));
                    }
                    'R' | 'X' | 'V' | 'H' | 'h' | 'v' => {
                        return Err(err(format!("\\{n} is not supported")));
                    }
                    'c' => return Err(err("control escape \\c is not supported".into())),
                    'Q' => {
                        // Quote everything up to \E (or the end).
                        let mut lit = String::new();
                        while i < chars.len() {
                            if chars[i] == '\\' && chars.get(i + 1) == Some(&'E') {
                                i += 2;
                                break;
                            }
                            lit.push(chars[i]);
                            i += 1;
                        }
                        out.push_str(&regex::escape(&lit));
                    }
                    'E' => {}
                    'd' | 'w' | 's' | 'D' | 'W' | 'S' => {
                        let set = match n.to_ascii_lowercase() {
                            'd' => DIGIT,
                            'w' => WORD,
                            _ => SPACE,
                        };
                        let negated = n.is_ascii_uppercase();
                        match (class_depth > 0, negated) {
                            (true, false) => out.push_str(set),
                            (true, true) => out.push_str(&format!("[^{set}]")),
                            (false, false) => out.push_str(&format!("[{set}]")),
                            (false, true) => out.push_str(&format!("[^{set}]")),
                        }
                    }
                    'e' => out.push_str("\\x1B"),
                    'a' => out.push_str("\\x07"),
                    '0' => {
                        let mut value = 0u32;
                        let mut digits = 0;
                        while digits < 3
                            && let Some(d) = chars.get(i).and_then(|c| c.to_digit(8))
                        {
                            value = value * 8 + d;
                            i += 1;
                            digits += 1;
                        }
                        if digits == 0 {
                            return Err(err("octal escape \\0 needs digits".into()));
                        }
                        out.push_str(&format!("\\x{{{value:X}}}"));
                    }
                    'p' | 'P' => {
                        let mut name = String::new();
                        if chars.get(i) == Some(&'{') {
                            let end = chars[i..].iter().position(|&c| c == '}').map(|p| p + i);
                            let Some(end) = end else {
                                return Err(err(format!("\\{n}{{ is not closed")));
                            };
                            name = chars[i + 1..end].iter().collect();
                            i = end + 1;
                        } else if let Some(&c) = chars.get(i) {
                            name.push(c);
                            i += 1;
                        }
                        if name.starts_with("java") {
                            return Err(err(format!(
                                "Java class \\{n}{{{name}}} is not supported"
                            )));
                        }
                        let name = name
                            .strip_prefix("Is")
                            .or_else(|| name.strip_prefix("In"))
                            .unwrap_or(&name)
                            .to_string();
                        let posix = match name.as_str() {
                            "Lower" => Some("a-z"),
                            "Upper" => Some("A-Z"),
                            "ASCII" => Some("\\x00-\\x7F"),
                            "Alpha" => Some("a-zA-Z"),
                            "Digit" => Some("0-9"),
                            "Alnum" => Some("a-zA-Z0-9"),
                            "Punct" => Some("!-/:-@\\[-`{-~"),
                            "Blank" => Some(" \\t"),
                            "Space" => Some(SPACE),
                            "XDigit" => Some("0-9a-fA-F"),
                            "Cntrl" => Some("\\x00-\\x1F\\x7F"),
                            _ => None,
                        };
                        match posix {
                            Some(set) if class_depth > 0 && n == 'p' => out.push_str(set),
                            Some(set) if n == 'p' => out.push_str(&format!("[{set}]")),
                            Some(set) => out.push_str(&format!("[^{set}]")),
                            None => out.push_str(&format!("\\{n}{{{name}}}")),
                        }
                    }
                    other => {
                        out.push('\\');
                        out.push(other);
                    }
                }
                continue;
            }
            '[' => {
                class_depth += 1;
                out.push('[');
                if chars.get(i + 1) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                // A `]` first in a class is literal in Java.
                if chars.get(i + 1) == Some(&']') {
                    out.push_str("\\]");
                    i += 1;
                }
            }
            ']' if class_depth > 0 => {
                class_depth -= 1;
                out.push(']');
            }
            // Rust gives `~~` a set meaning Java lacks; `&&` means the same.
            '~' if class_depth > 0 => out.push_str("\\x7E"),
            '.' if class_depth == 0 => out.push_str("[^\\n\\r\\x{85}\\x{2028}\\x{2029}]"),
            '(' if class_depth == 0 && chars.get(i + 1) == Some(&'?') => {
                let rest: String = chars[i + 2..].iter().take(3).collect();
                let construct = if rest.starts_with('=') {
                    Some("lookahead (?=...)")
                } else if rest.starts_with('!') {
                    Some("negative lookahead (?!...)")
                } else if rest.starts_with("<=") {
                    Some("lookbehind (?<=...)")
                } else if rest.starts_with("<!") {
                    Some("negative lookbehind (?<!...)")
                } else if rest.starts_with('>') {
                    Some("atomic group (?>...)")
                } else {
                    None
                };
                if let Some(what) = construct {
                    return Err(err(format!("{what} is not supported")));
                }
                // Inline flags: Java's U (Unicode classes), d, c have no equivalent;
                // Rust's U means something else.
                let mut j = i + 2;
                while let Some(&f) = chars.get(j) {
                    if f == ':' || f == ')' || f == '<' {
                        break;
                    }
                    if matches!(f, 'U' | 'd' | 'c' | 'u') {
                        return Err(err(format!("inline flag (?{f}) is not supported")));
                    }
                    j += 1;
                }
                out.push('(');
            }
            '*' | '+' | '?' | '}' if class_depth == 0 => {
                out.push(c);
                if chars.get(i + 1) == Some(&'+') {
                    return Err(err(format!("possessive quantifier {c}+ is not supported")));
                }
            }
            _ => out.push(c),
        }
        i += 1;
    }
    Ok(out)
}

/// Translates and compiles a Java regular expression.
pub fn compile(pattern: &str) -> Result<Regex, RegexError> {
    let translated = translate(pattern)?;
    Regex::new(&translated).map_err(|e| RegexError {
        pattern: pattern.to_string(),
        message: e
            .to_string()
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_string(),
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Group(usize),
    Named(String),
}

/// A Java replacement string (`Matcher.appendReplacement` syntax): `$n` and
/// `${name}` insert groups, `\x` inserts `x` literally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    pieces: Vec<Piece>,
}

impl Replacement {
    /// Parses `replacement` for a pattern with `groups` numbered groups
    /// (group 0 included) and these group names. Like Java, a group
    /// number takes as many digits as name an existing group.
    pub fn parse(replacement: &str, regex: &Regex) -> Result<Self, String> {
        let groups = regex.captures_len();
        let chars: Vec<char> = replacement.chars().collect();
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '\\' => {
                    let Some(&n) = chars.get(i + 1) else {
                        return Err("character to be escaped is missing".into());
                    };
                    text.push(n);
                    i += 2;
                }
                '$' => {
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    match chars.get(i + 1) {
                        Some('{') => {
                            let end = chars[i + 2..].iter().position(|&c| c == '}');
                            let Some(end) = end.map(|p| p + i + 2) else {
                                return Err("named capturing group is missing trailing '}'".into());
                            };
                            let name: String = chars[i + 2..end].iter().collect();
                            if !regex.capture_names().any(|n| n == Some(name.as_str())) {
                                return Err(format!("No group with name {{{name}}}"));
                            }
                            pieces.push(Piece::Named(name));
                            i = end + 1;
                        }
                        Some(d) if d.is_ascii_digit() => {
                            let mut n = d.to_digit(10).unwrap_or(0) as usize;
                            if n >= groups {
                                return Err(format!("No group {n}"));
                            }
                            i += 2;
                            while let Some(d) = chars.get(i).and_then(|c| c.to_digit(10)) {
                                let next = n * 10 + d as usize;
                                if next >= groups {
                                    break;
                                }
                                n = next;
                                i += 1;
                            }
                            pieces.push(Piece::Group(n));
                        }
                        _ => return Err("Illegal group reference".into()),
                    }
                }
                c => {
                    text.push(c);
                    i += 1;
                }
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Self { pieces })
    }

    /// Appends the replacement for one match.
    pub fn append(&self, caps: &Captures<'_>, out: &mut String) {
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Group(n) => out.push_str(caps.get(*n).map_or("", |m| m.as_str())),
                Piece::Named(n) => out.push_str(caps.name(n).map_or("", |m| m.as_str())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_classes_are_ascii() {
        assert_eq!(translate(r"\d+").unwrap(), "[0-9]+");
        assert_eq!(translate(r"[\w.]").unwrap(), "[a-zA-Z0-9_.]");
        assert_eq!(translate(r"\S").unwrap(), "[^ \\t\\n\\x0B\\f\\r]");
        assert!(compile(r"\d").unwrap().is_match("7"));
        assert!(!compile(r"\d").unwrap().is_match("٣"));
        assert!(compile(r"\p{Alpha}+").unwrap().is_match("abc"));
    }

    #[test]
    fn quoting_and_escapes() {
        let re = compile(r"\Qa.b*\E+").unwrap();
        assert!(re.is_match("a.b*a.b*"));
        assert!(!re.is_match("axbb"));
        assert!(compile(r"\0101").unwrap().is_match("A"));
        assert!(compile(r"[]a]").unwrap().is_match("]"));
    }

    #[test]
    fn dot_stops_at_java_line_terminators() {
        let re = compile("a.b").unwrap();
        assert!(re.is_match("axb"));
        assert!(!re.is_match("a\rb"));
    }

    #[test]
    fn unsupported_constructs_are_named() {
        for (p, what) in [
            (r"(a)\1", "backreference \\1"),
            ("a(?=b)", "lookahead (?=...)"),
            ("a(?!b)", "negative lookahead"),
            ("(?<=a)b", "lookbehind"),
            ("(?<!a)b", "negative lookbehind"),
            ("(?>a)", "atomic group"),
            ("a*+", "possessive quantifier *+"),
            (r"\k<x>", "named backreference"),
        ] {
            let e = translate(p).unwrap_err().to_string();
            assert!(e.contains(what), "{p}: {e}");
            assert!(e.contains(p), "{p}: {e}");
        }
        let e = compile("(a").unwrap_err().to_string();
        assert!(e.contains("'(a'"), "{e}");
    }

    #[test]
    fn named_groups_work() {
        let re = compile("(?<year>[0-9]{4})-(?<m>..)").unwrap();
        let caps = re.captures("2004-09").unwrap();
        assert_eq!(&caps["year"], "2004");
    }

    #[test]
    fn replacements_follow_java() {
        let re = compile("(a)(b)?").unwrap();
        let caps = re.captures("ab").unwrap();
        let mut out = String::new();
        Replacement::parse(r"[$2$1\$$10]", &re)
            .unwrap()
            .append(&caps, &mut out);
        // $10 is group 1 then a literal 0: there is no group 10.
        assert_eq!(out, "[ba$a0]");
        assert_eq!(Replacement::parse("$3", &re).unwrap_err(), "No group 3");
        assert_eq!(
            Replacement::parse("$x", &re).unwrap_err(),
            "Illegal group reference"
        );
        let named = compile("(?<w>b)").unwrap();
        let caps = named.captures("b").unwrap();
        let mut out = String::new();
        Replacement::parse("<${w}>", &named)
            .unwrap()
            .append(&caps, &mut out);
        assert_eq!(out, "<b>");
    }
}
