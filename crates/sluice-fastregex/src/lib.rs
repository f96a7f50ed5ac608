//! KDA's `FAST_REGEX_LOG_PARSE(<string>, <fast regex>)` for Sluice: the
//! pattern language (module [`syntax`]), the decomposition of a pattern
//! into one expression per group and one per stretch between groups, and
//! the left-to-right match that fixes where each one ends without ever
//! going back. No SQL here: the engine's log-parsing functions call
//! [`FastRegex::captures`] per row and make COLUMN1..COLUMNn of the spans.
//!
//! ```
//! use sluice_fastregex::FastRegex;
//!
//! let re = FastRegex::new("(.*)_+(.*)")?;
//! let mut cache = re.create_cache();
//! let mut spans = Vec::new();
//! let line = "Mary____had_a_little_lamb";
//! assert!(re.captures(&mut cache, line, &mut spans)?);
//! let columns: Vec<&str> = spans.iter().map(|s| &line[s.clone()]).collect();
//! assert_eq!(columns, ["Mary", "had_a_little_lamb"]);
//! # Ok::<(), sluice_fastregex::FastRegexError>(())
//! ```
//!
//! # What the SQL Reference says, and how Sluice reads it
//!
//! The page (sql-reference-fast-regex-log-parser), in paraphrase: the
//! pattern is split into a series of expressions, one for each group and
//! one for each part outside a group; a fixed-length start of an expression
//! moves to the end of the expression before it, and an expression that is
//! all fixed length merges into the one before; the series is then matched
//! lazily ("don't parse more than you need to at each step") with no
//! backtracking. Every character of the string must be accounted for, or
//! the function returns no fields. Columns are COLUMN1..COLUMNn, one per
//! group, left to right, VARCHAR(1024).
//!
//! Sluice, element by element from the left (an *element* is a top-level
//! group, or a stretch of the pattern between groups):
//! - The element's *terminator* is what the moving rule gives it: the
//!   fixed-length start of the next element, and, when that element is all
//!   fixed length, the next one's too, and so on.
//! - With a terminator, the element ends lazily: at the first place where
//!   the element matches up to there and the terminator matches from there.
//!   When the terminator reaches the end of the pattern, it is anchored at
//!   the end of the string instead (the string must end with it).
//! - Without one (what follows starts with a variable part, as `(.*)`
//!   after `_+`), "as little as needed" is not defined by what follows, so
//!   the element takes the longest match it has: `_+` eats every `_`.
//! - The last element must match up to the end of the string.
//! - No backtracking: once an element's end is fixed it stays; if a later
//!   element cannot match, the string has no fields (all NULL).
//!
//! The page's two examples: `'(.*)_+(.*)'` on `Mary____had_a_little_lamb`
//! gives `Mary` and `had_a_little_lamb`, as printed. `'(.*)_(._.*)_.*'` on
//! `Mary_had_a_little_lamb` gives `Mary_had` and `a_little`; the page prints
//! `a_little_lamb` for COLUMN2, which would leave the pattern's `_` after
//! the second group with no character to match (Java's regex, as
//! REGEX_LOG_PARSE uses, also gives `a_little`).
//!
//! `x+` counts as `x` followed by `x*` and `x{n,m}` as `x{n}` then up to
//! m−n more, so their first n characters are a fixed-length start.

pub mod syntax;

use std::ops::Range;

use regex_automata::hybrid::dfa::{Cache as DfaCache, DFA};
use regex_automata::{Anchored, Input, MatchKind};

pub use syntax::Node;

/// What is wrong with a pattern, or why a string could not be matched.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FastRegexError {
    /// The pattern is not in the Fast Regex language (or uses a part of it
    /// Sluice does not have).
    #[error("FAST_REGEX_LOG_PARSE pattern '{pattern}', at character {position}: {reason}")]
    Syntax {
        /// The whole pattern.
        pattern: String,
        /// 1-based character position.
        position: usize,
        /// What is wrong there.
        reason: String,
    },
    /// The pattern parses but cannot give columns.
    #[error("FAST_REGEX_LOG_PARSE pattern '{pattern}': {reason}")]
    Shape {
        /// The whole pattern.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The pattern is too large for the regex engine.
    #[error("FAST_REGEX_LOG_PARSE pattern '{pattern}' cannot be compiled: {reason}")]
    Compile {
        /// The whole pattern.
        pattern: String,
        /// The regex engine's reason.
        reason: String,
    },
    /// The matcher gave up on a string (it should not: no look-around
    /// that could make it quit is ever generated).
    #[error("FAST_REGEX_LOG_PARSE could not match a string: {reason}")]
    Search {
        /// The regex engine's reason.
        reason: String,
    },
}

/// How one element finds its end.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ends {
    /// The first end after which the terminator (`chars` characters) matches.
    Lazy { terminator_chars: usize },
    /// The element and its terminator (`chars` characters) end the string.
    AtEnd { terminator_chars: usize },
    /// The longest match.
    Longest,
    /// The last element: it ends the string.
    Last,
}

#[derive(Debug)]
struct Element {
    /// The column this element is, if it is a group.
    column: Option<usize>,
    ends: Ends,
    dfa: DFA,
}

/// A compiled FAST_REGEX_LOG_PARSE pattern. Cheap to share between
/// threads; each thread matches with a [`Cache`] of its own.
#[derive(Debug)]
pub struct FastRegex {
    elements: Vec<Element>,
    columns: usize,
}

/// Scratch space of a [`FastRegex`]'s automata, built as strings are
/// matched; make one with [`FastRegex::create_cache`] and keep it.
#[derive(Debug)]
pub struct Cache(Vec<DfaCache>);

impl FastRegex {
    /// Compiles a pattern; its top-level groups are the columns.
    pub fn new(pattern: &str) -> Result<Self, FastRegexError> {
        let shape = |reason: &str| FastRegexError::Shape {
            pattern: pattern.to_string(),
            reason: reason.to_string(),
        };
        let root = syntax::parse(pattern)?;
        let items = match root {
            Node::Concat(items) => items,
            Node::Union(_) => {
                return Err(shape(
                    "a '|' at the top level splits the whole pattern, so it has no series of groups: put the alternatives inside a group, as (a|b)",
                ));
            }
            other => vec![other],
        };
        // Elements: each top-level group, and each stretch between groups.
        let mut parts: Vec<(Option<usize>, Vec<Node>)> = Vec::new();
        let mut columns = 0;
        for item in items {
            match item {
                Node::Group(inner) => {
                    let inner_items = match *inner {
                        Node::Concat(items) => items,
                        other => vec![other],
                    };
                    parts.push((Some(columns), inner_items));
                    columns += 1;
                }
                other => match parts.last_mut() {
                    Some((None, run)) => run.push(other),
                    _ => parts.push((None, vec![other])),
                },
            }
        }
        if columns == 0 {
            return Err(shape(
                "it has no group: each top-level ( ) group is a column, COLUMN1 to COLUMNn",
            ));
        }
        let fixed: Vec<bool> = parts
            .iter()
            .map(|(_, items)| {
                items
                    .iter()
                    .map(Node::fixed_len)
                    .sum::<Option<usize>>()
                    .is_some()
            })
            .collect();
        let mut elements = Vec::with_capacity(parts.len());
        for (i, (column, items)) in parts.iter().enumerate() {
            let own = concat_regex(items);
            let (regex, ends) = if i + 1 == parts.len() {
                (format!("{own}\\z"), Ends::Last)
            } else {
                let mut terminator = Vec::new();
                let mut reaches_end = true;
                for (j, (_, next)) in parts.iter().enumerate().skip(i + 1) {
                    terminator.extend(fixed_start(next));
                    if !fixed[j] {
                        reaches_end = false;
                        break;
                    }
                }
                let terminator_chars = terminator
                    .iter()
                    .map(Node::fixed_len)
                    .sum::<Option<usize>>()
                    .unwrap_or(0);
                let tail = concat_regex(&terminator);
                if reaches_end {
                    (format!("{own}{tail}\\z"), Ends::AtEnd { terminator_chars })
                } else if terminator.is_empty() {
                    (own, Ends::Longest)
                } else {
                    (format!("{own}{tail}"), Ends::Lazy { terminator_chars })
                }
            };
            let dfa = DFA::builder()
                .configure(DFA::config().match_kind(MatchKind::All))
                .build(&regex)
                .map_err(|e| FastRegexError::Compile {
                    pattern: pattern.to_string(),
                    reason: e.to_string(),
                })?;
            elements.push(Element {
                column: *column,
                ends,
                dfa,
            });
        }
        Ok(FastRegex { elements, columns })
    }

    /// The number of columns (top-level groups).
    pub fn columns(&self) -> usize {
        self.columns
    }

    /// Scratch space for [`FastRegex::captures`].
    pub fn create_cache(&self) -> Cache {
        Cache(self.elements.iter().map(|e| e.dfa.create_cache()).collect())
    }

    /// Matches `text`; on a match, `spans` holds each column's byte range
    /// in `text`, COLUMN1 first, and the result is `true`. `false`: some
    /// character is not accounted for, so the string has no fields.
    pub fn captures(
        &self,
        cache: &mut Cache,
        text: &str,
        spans: &mut Vec<Range<usize>>,
    ) -> Result<bool, FastRegexError> {
        spans.clear();
        let mut at = 0;
        for (element, dfa_cache) in self.elements.iter().zip(cache.0.iter_mut()) {
            let earliest = matches!(element.ends, Ends::Lazy { .. });
            let input = Input::new(text)
                .range(at..)
                .anchored(Anchored::Yes)
                .earliest(earliest);
            let found = element.dfa.try_search_fwd(dfa_cache, &input).map_err(|e| {
                FastRegexError::Search {
                    reason: e.to_string(),
                }
            })?;
            let Some(found) = found else {
                return Ok(false);
            };
            let end = match element.ends {
                Ends::Lazy { terminator_chars } => back(text, found.offset(), terminator_chars),
                Ends::AtEnd { terminator_chars } => back(text, text.len(), terminator_chars),
                Ends::Longest => found.offset(),
                Ends::Last => text.len(),
            };
            if element.column.is_some() {
                spans.push(at..end);
            }
            at = end;
        }
        Ok(true)
    }
}

/// The byte offset `chars` characters before `end` in `text`.
fn back(text: &str, end: usize, chars: usize) -> usize {
    if chars == 0 {
        return end;
    }
    text[..end]
        .char_indices()
        .rev()
        .nth(chars - 1)
        .map_or(0, |(i, _)| i)
}

/// The items one after the other, as a regex.
fn concat_regex(items: &[Node]) -> String {
    items.iter().map(Node::to_regex).collect()
}

/// The fixed-length start of an element's items: whole items while they
/// are fixed length, then the first n repeats of an `x{n,..}` (n ≥ 1) with
/// `x` fixed length.
fn fixed_start(items: &[Node]) -> Vec<Node> {
    let mut out = Vec::new();
    for item in items {
        if item.fixed_len().is_some() {
            out.push(item.clone());
            continue;
        }
        if let Node::Repeat { node, min, .. } = item
            && *min >= 1
            && node.fixed_len().is_some()
        {
            out.push(Node::Repeat {
                node: node.clone(),
                min: *min,
                max: Some(*min),
            });
        }
        break;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(pattern: &str, text: &str) -> Option<Vec<String>> {
        let re = FastRegex::new(pattern).expect("compiles");
        let mut cache = re.create_cache();
        let mut spans = Vec::new();
        re.captures(&mut cache, text, &mut spans)
            .expect("searches")
            .then(|| spans.iter().map(|s| text[s.clone()].to_string()).collect())
    }

    #[test]
    fn the_references_examples() {
        assert_eq!(
            columns("(.*)_+(.*)", "Mary____had_a_little_lamb").expect("matches"),
            ["Mary", "had_a_little_lamb"]
        );
        // The page prints a_little_lamb for COLUMN2; see the crate's doc.
        assert_eq!(
            columns("(.*)_(._.*)_.*", "Mary_had_a_little_lamb").expect("matches"),
            ["Mary_had", "a_little"]
        );
    }

    #[test]
    fn lazy_ends_stop_at_the_first_terminator() {
        assert_eq!(
            columns("(.*) (.*) (.*)", "a b c d").expect("matches"),
            ["a", "b", "c d"]
        );
        assert_eq!(
            columns("([0-9]+)-(.*)", "12-34-56").expect("matches"),
            ["12", "34-56"]
        );
        // A group of fixed length in the middle is part of the terminator.
        assert_eq!(
            columns("(.*)(ab)(.*)", "xxabyyab").expect("matches"),
            ["xx", "ab", "yyab"]
        );
    }

    #[test]
    fn without_a_terminator_an_element_takes_its_longest_match() {
        assert_eq!(
            columns("([a-z]*)([0-9]*)", "abc123").expect("matches"),
            ["abc", "123"]
        );
        assert_eq!(
            columns("(.*) +(.*)", "key    value").expect("matches"),
            ["key", "value"]
        );
    }

    #[test]
    fn a_fixed_tail_is_anchored_at_the_end() {
        assert_eq!(
            columns("\\\"(.*)\\\"", "\"say \"hi\"\"").expect("matches"),
            ["say \"hi\""]
        );
        assert_eq!(
            columns("\\[(.*)\\]", "[a] [b]").expect("matches"),
            ["a] [b"]
        );
        assert_eq!(columns("(.*)x", "abc"), None);
    }

    #[test]
    fn unaccounted_characters_give_no_fields_and_nothing_is_retried() {
        assert_eq!(columns("([0-9]+)", "12a"), None);
        assert_eq!(columns("(a) (b)", "a c"), None);
        // COLUMN1 ends at the first "-" and a digit; COLUMN2 then cannot
        // reach an "x", and nothing is retried (a backtracking regex would
        // make COLUMN1 "a-1b").
        assert_eq!(columns("(.*)-([0-9]+)x(.*)", "a-1b-2x"), None);
        assert_eq!(
            columns("(.*) ([0-9]+)", "a b 12").expect("matches"),
            ["a b", "12"]
        );
    }

    #[test]
    fn an_apache_common_log_line() {
        let line = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#;
        // `"` quotes text in a Fast Regex, so a quote character is `\"`.
        let pattern = r#"([^ ]*) ([^ ]*) ([^ ]*) \[([^\]]*)\] \"([^\"]*)\" ([0-9]*) ([0-9-]*)"#;
        assert_eq!(
            columns(pattern, line).expect("matches"),
            [
                "127.0.0.1",
                "-",
                "frank",
                "10/Oct/2000:13:55:36 -0700",
                "GET /apache_pb.gif HTTP/1.0",
                "200",
                "2326"
            ]
        );
    }

    #[test]
    fn multibyte_characters_keep_their_boundaries() {
        assert_eq!(
            columns("(.*)é(.*)", "añoébü").expect("matches"),
            ["año", "bü"]
        );
        assert_eq!(columns("(.*)ü", "añoü").expect("matches"), ["año"]);
    }

    #[test]
    fn shapes_without_columns_are_refused() {
        let err = |p: &str| FastRegex::new(p).expect_err("refused").to_string();
        assert!(err("abc").contains("no group"));
        assert!(err("(a)|(b)").contains("top level"));
    }
}
