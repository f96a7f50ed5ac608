//! String functions whose KDA semantics DataFusion's differ from.
//!
//! - `kda_overlay(s, r, from [, for])`: `OVERLAY(s PLACING r FROM from [FOR for])`
//!   as the SQL standard defines it through SUBSTRING, so a FROM below 1 or
//!   past the end still gives a value (DataFusion rejects FROM < 1).
//! - `kda_substring(s, from [, for])`: `SUBSTRING(s FROM from [FOR for])`;
//!   a negative length is a row error. With a string FROM it is the regex
//!   form, `SUBSTRING(s FROM regex)`: the first match (its first group if
//!   the pattern has groups), NULL when nothing matches.
//! - `kda_substring_comma(s, start, len)`: `SUBSTRING(s, start, len)`, which
//!   the reference prints as NULL when start is past the end (its FROM/FOR
//!   example past the end prints ''; both are followed).
//! - `kda_substring_similar(s, pattern, escape)`: `SUBSTRING(s SIMILAR
//!   'A<e>"B<e>"C' ESCAPE '<e>')`: the part of s matching B between A and C.
//!   As the reference's examples print, A B C need not span the whole of s.
//!   (The front end must turn the SIMILAR form into this call; sqlparser
//!   does not parse it.)
//! - `kda_char(s, n)`: `CAST(s AS CHAR(n))`, padded with spaces or cut to n.
//! - `regex_replace(original, regex, replacement, startPosition, occurrence)`:
//!   Java's `String.replaceAll` from a start position, all matches (0) or
//!   the n-th only.
//!
//! CHAR_LENGTH, INITCAP, LOWER, UPPER, POSITION, TRIM, `||`, LIKE and
//! SIMILAR TO are DataFusion's own (they already follow KDA).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, StringArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::error::{DataFusionError, Result};
use regex::Regex;

use super::java_regex::{self, Replacement};
use super::{KdaFunction, all, int_arg, row_error, string_arg};

/// The string UDFs.
pub fn functions() -> Vec<KdaFunction> {
    vec![
        KdaFunction::new(
            "kda_overlay",
            "OVERLAY(<string> PLACING <string> FROM <integer> [FOR <integer>])",
            coerce_overlay,
            utf8,
            eval_overlay,
        ),
        KdaFunction::new(
            "kda_substring",
            "SUBSTRING(<string> FROM <integer> [FOR <integer>]) or SUBSTRING(<string> FROM <regex>)",
            coerce_substring,
            utf8,
            eval_substring,
        ),
        KdaFunction::new(
            "kda_substring_comma",
            "SUBSTRING(<string>, <integer> [, <integer>])",
            coerce_substring_comma,
            utf8,
            eval_substring_comma,
        ),
        KdaFunction::new(
            "kda_substring_similar",
            "SUBSTRING(<string> SIMILAR <pattern> ESCAPE <escape character>)",
            |t| all(t, &[string_arg, string_arg, string_arg]),
            utf8,
            eval_substring_similar,
        ),
        KdaFunction::new(
            "kda_char",
            "CAST(<string> AS CHAR(<length>))",
            coerce_char,
            utf8,
            eval_char,
        ),
        KdaFunction::new(
            "regex_replace",
            "REGEX_REPLACE(<original VARCHAR>, <regex VARCHAR>, <replacement VARCHAR>, <startPosition INTEGER>, <occurrence INTEGER>)",
            coerce_regex_replace,
            utf8,
            eval_regex_replace,
        ),
    ]
}

fn utf8(_: &[DataType]) -> DataType {
    DataType::Utf8
}

fn coerce_overlay(t: &[DataType]) -> Option<Vec<DataType>> {
    match t.len() {
        3 => all(t, &[string_arg, string_arg, int_arg]),
        4 => all(t, &[string_arg, string_arg, int_arg, int_arg]),
        _ => None,
    }
}

fn coerce_substring(t: &[DataType]) -> Option<Vec<DataType>> {
    match t.len() {
        2 if t[1] != DataType::Null && string_arg(&t[1]).is_some() => {
            all(t, &[string_arg, string_arg])
        }
        2 => all(t, &[string_arg, int_arg]),
        3 => all(t, &[string_arg, int_arg, int_arg]),
        _ => None,
    }
}

fn coerce_substring_comma(t: &[DataType]) -> Option<Vec<DataType>> {
    match t.len() {
        2 => all(t, &[string_arg, int_arg]),
        3 => all(t, &[string_arg, int_arg, int_arg]),
        _ => None,
    }
}

fn coerce_char(t: &[DataType]) -> Option<Vec<DataType>> {
    all(t, &[string_arg, int_arg])
}

fn coerce_regex_replace(t: &[DataType]) -> Option<Vec<DataType>> {
    all(t, &[string_arg, string_arg, string_arg, int_arg, int_arg])
}

fn strings(a: &ArrayRef) -> Result<&StringArray> {
    a.as_string_opt::<i32>().ok_or_else(|| {
        DataFusionError::Internal(format!("expected a VARCHAR array, got {}", a.data_type()))
    })
}

fn ints(a: &ArrayRef) -> Result<&Int64Array> {
    a.as_primitive_opt::<Int64Type>().ok_or_else(|| {
        DataFusionError::Internal(format!("expected a BIGINT array, got {}", a.data_type()))
    })
}

/// Characters of `s` at 1-based positions `start ..` (`len` of them, if given).
pub(crate) fn sql_substring(s: &str, start: i64, len: Option<i64>) -> String {
    let from = start.max(1);
    let to = len.map_or(i64::MAX, |l| start.saturating_add(l));
    if to <= from {
        return String::new();
    }
    s.chars()
        .skip((from - 1) as usize)
        .take((to - from).min(i64::from(u32::MAX)) as usize)
        .collect()
}

/// Applies `f` to each row whose arguments are all non-NULL.
fn map_rows(
    args: &[ArrayRef],
    mut f: impl FnMut(usize, &mut StringBuilder) -> Result<()>,
) -> Result<ArrayRef> {
    let rows = args.first().map_or(0, |a| a.len());
    let mut out = StringBuilder::with_capacity(rows, rows * 8);
    for row in 0..rows {
        if args.iter().any(|a| a.is_null(row)) {
            out.append_null();
        } else {
            f(row, &mut out)?;
        }
    }
    Ok(Arc::new(out.finish()))
}

fn eval_overlay(args: &[ArrayRef]) -> Result<ArrayRef> {
    let s = strings(&args[0])?;
    let r = strings(&args[1])?;
    let from = ints(&args[2])?;
    let len = args.get(3).map(ints).transpose()?;
    map_rows(args, |row, out| {
        let (s, r, p) = (s.value(row), r.value(row), from.value(row));
        let l = len.map_or(r.chars().count() as i64, |l| l.value(row));
        let mut v = sql_substring(s, 1, Some(p.saturating_sub(1)));
        v.push_str(r);
        v.push_str(&sql_substring(s, p.saturating_add(l), None));
        out.append_value(v);
        Ok(())
    })
}

/// Compiled patterns of one batch (usually one literal pattern).
#[derive(Default)]
struct Patterns(Vec<(String, Regex)>);

impl Patterns {
    fn get(&mut self, function: &str, pattern: &str) -> Result<&Regex> {
        let i = match self.0.iter().position(|(p, _)| p == pattern) {
            Some(i) => i,
            None => {
                let re = java_regex::compile(pattern).map_err(|e| row_error(function, e))?;
                self.0.push((pattern.to_string(), re));
                self.0.len() - 1
            }
        };
        Ok(&self.0[i].1)
    }
}

fn eval_substring(args: &[ArrayRef]) -> Result<ArrayRef> {
    let s = strings(&args[0])?;
    if args.len() == 2 && args[1].data_type() == &DataType::Utf8 {
        let pattern = strings(&args[1])?;
        let mut patterns = Patterns::default();
        let rows = s.len();
        let mut out = StringBuilder::with_capacity(rows, rows * 8);
        for row in 0..rows {
            if s.is_null(row) || pattern.is_null(row) {
                out.append_null();
                continue;
            }
            let re = patterns.get("SUBSTRING", pattern.value(row))?;
            let value = s.value(row);
            let found = if re.captures_len() > 1 {
                re.captures(value).and_then(|c| c.get(1))
            } else {
                re.find(value)
            };
            out.append_option(found.map(|m| m.as_str()));
        }
        return Ok(Arc::new(out.finish()));
    }
    let from = ints(&args[1])?;
    let len = args.get(2).map(ints).transpose()?;
    map_rows(args, |row, out| {
        let l = len.map(|l| l.value(row));
        if let Some(l) = l.filter(|l| *l < 0) {
            return Err(row_error("SUBSTRING", format!("negative length {l}")));
        }
        out.append_value(sql_substring(s.value(row), from.value(row), l));
        Ok(())
    })
}

fn eval_substring_comma(args: &[ArrayRef]) -> Result<ArrayRef> {
    let s = strings(&args[0])?;
    let from = ints(&args[1])?;
    let len = args.get(2).map(ints).transpose()?;
    map_rows(args, |row, out| {
        let value = s.value(row);
        let start = from.value(row);
        let l = len.map(|l| l.value(row));
        if let Some(l) = l.filter(|l| *l < 0) {
            return Err(row_error("SUBSTRING", format!("negative length {l}")));
        }
        if start > value.chars().count() as i64 {
            out.append_null();
        } else {
            out.append_value(sql_substring(value, start, l));
        }
        Ok(())
    })
}

/// The regex for `SUBSTRING(.. SIMILAR pattern ESCAPE escape)`: group 1 is
/// the part between the two `<escape>"` markers.
pub(crate) fn similar_substring_regex(pattern: &str, escape: &str) -> Result<String, String> {
    let mut chars = escape.chars();
    let (Some(e), None) = (chars.next(), chars.next()) else {
        return Err(format!("ESCAPE '{escape}' must be one character"));
    };
    let marker = format!("{e}\"");
    let parts: Vec<&str> = pattern.split(marker.as_str()).collect();
    let [a, b, c] = parts.as_slice() else {
        return Err(format!(
            "pattern '{pattern}' must hold two {marker} markers around the part to return"
        ));
    };
    let body = |p: &str| {
        let anchored = crate::plan::similar_to_regex(p, Some(e));
        anchored
            .strip_prefix("^(?:")
            .and_then(|r| r.strip_suffix(")$"))
            .unwrap_or_default()
            .to_string()
    };
    Ok(format!("(?:{})({})(?:{})", body(a), body(b), body(c)))
}

fn eval_substring_similar(args: &[ArrayRef]) -> Result<ArrayRef> {
    let s = strings(&args[0])?;
    let pattern = strings(&args[1])?;
    let escape = strings(&args[2])?;
    let mut compiled: Vec<((String, String), Regex)> = Vec::new();
    map_rows(args, |row, out| {
        let key = (
            pattern.value(row).to_string(),
            escape.value(row).to_string(),
        );
        let i = match compiled.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                let text = similar_substring_regex(&key.0, &key.1)
                    .map_err(|e| row_error("SUBSTRING", e))?;
                let re = Regex::new(&text).map_err(|e| row_error("SUBSTRING", e))?;
                compiled.push((key, re));
                compiled.len() - 1
            }
        };
        let re = &compiled[i].1;
        let found = re.captures(s.value(row)).and_then(|c| c.get(1));
        out.append_option(found.map(|m| m.as_str()));
        Ok(())
    })
}

fn eval_char(args: &[ArrayRef]) -> Result<ArrayRef> {
    let s = strings(&args[0])?;
    let n = ints(&args[1])?;
    map_rows(args, |row, out| {
        let n = usize::try_from(n.value(row)).unwrap_or(0);
        let mut v: String = s.value(row).chars().take(n).collect();
        let have = v.chars().count();
        v.extend(std::iter::repeat_n(' ', n - have));
        out.append_value(v);
        Ok(())
    })
}

fn eval_regex_replace(args: &[ArrayRef]) -> Result<ArrayRef> {
    let original = strings(&args[0])?;
    let regex = strings(&args[1])?;
    let replacement = strings(&args[2])?;
    let start = ints(&args[3])?;
    let occurrence = ints(&args[4])?;
    let mut patterns = Patterns::default();
    map_rows(args, |row, out| {
        let re = patterns.get("REGEX_REPLACE", regex.value(row))?;
        let v = regex_replace(
            original.value(row),
            re,
            replacement.value(row),
            start.value(row),
            occurrence.value(row),
        )
        .map_err(|e| row_error("REGEX_REPLACE", e))?;
        out.append_value(v);
        Ok(())
    })
}

/// REGEX_REPLACE on one row's values.
pub(crate) fn regex_replace(
    original: &str,
    re: &Regex,
    replacement: &str,
    start: i64,
    occurrence: i64,
) -> Result<String, String> {
    if start < 1 {
        return Err(format!("startPosition {start} is less than 1"));
    }
    if occurrence < 0 {
        return Err(format!("occurrence {occurrence} is less than 0"));
    }
    let Some((offset, _)) = original.char_indices().nth((start - 1) as usize) else {
        return Ok(original.to_string());
    };
    let replacement = Replacement::parse(replacement, re)?;
    let mut out = String::with_capacity(original.len());
    out.push_str(&original[..offset]);
    let mut copied = offset;
    let mut at = offset;
    let mut n = 0i64;
    while at <= original.len() {
        let Some(caps) = re.captures_at(original, at) else {
            break;
        };
        let Some(m) = caps.get(0) else { break };
        n += 1;
        if occurrence == 0 || n == occurrence {
            out.push_str(&original[copied..m.start()]);
            replacement.append(&caps, &mut out);
            copied = m.end();
            if occurrence != 0 {
                break;
            }
        }
        at = if m.end() == m.start() {
            // After an empty match, Java searches again one character on.
            match original[m.end()..].chars().next() {
                Some(c) => m.end() + c.len_utf8(),
                None => break,
            }
        } else {
            m.end()
        };
    }
    out.push_str(&original[copied..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substring_positions_follow_the_standard() {
        assert_eq!(sql_substring("123456789", 3, Some(4)), "3456");
        assert_eq!(sql_substring("123456789", -1, Some(4)), "12");
        assert_eq!(sql_substring("123456789", 17, Some(4)), "");
        assert_eq!(sql_substring("123456789", 8, None), "89");
        assert_eq!(sql_substring("héllo", 2, Some(2)), "él");
    }

    fn similar(s: &str, p: &str, e: &str) -> Option<String> {
        let re = Regex::new(&similar_substring_regex(p, e).unwrap()).unwrap();
        re.captures(s)
            .and_then(|c| c.get(1))
            .map(|m| m.as_str().to_string())
    }

    #[test]
    fn substring_similar_returns_the_marked_part() {
        assert_eq!(
            similar("123456789", "23#\"456#\"78", "#").as_deref(),
            Some("456")
        );
        assert_eq!(
            similar("TECHNOLOGY", "TECH%\"NOLO%\"GY", "%").as_deref(),
            Some("NOLO")
        );
        assert_eq!(similar("abcde", "a#\"_%#\"e", "#").as_deref(), Some("bcd"));
        assert_eq!(similar("abc", "x#\"b#\"c", "#"), None);
        assert!(
            similar_substring_regex("abc", "#")
                .unwrap_err()
                .contains("two #\" markers")
        );
        assert!(
            similar_substring_regex("a", "##")
                .unwrap_err()
                .contains("one character")
        );
    }

    fn replace(s: &str, re: &str, r: &str, start: i64, occ: i64) -> Result<String, String> {
        regex_replace(s, &java_regex::compile(re).unwrap(), r, start, occ)
    }

    #[test]
    fn regex_replace_follows_java_replace_all() {
        assert_eq!(
            replace("TECHNOLOGY", "TECHNOLOGY", "INFORMATION TECHNOLOGY", 1, 0).unwrap(),
            "INFORMATION TECHNOLOGY"
        );
        assert_eq!(replace("abcabc", "b", "X", 1, 0).unwrap(), "aXcaXc");
        assert_eq!(replace("abcabc", "b", "X", 3, 0).unwrap(), "abcaXc");
        assert_eq!(replace("abcabc", "b", "X", 1, 2).unwrap(), "abcaXc");
        assert_eq!(replace("abc", "b", "X", 9, 0).unwrap(), "abc");
        assert_eq!(replace("abc", "x*", "-", 1, 0).unwrap(), "-a-b-c-");
        assert_eq!(replace("ab", "(a)(b)", "$2$1", 1, 0).unwrap(), "ba");
        assert!(
            replace("abc", "b", "X", 0, 0)
                .unwrap_err()
                .contains("startPosition 0")
        );
        assert!(
            replace("abc", "b", "X", 1, -1)
                .unwrap_err()
                .contains("occurrence -1")
        );
        assert_eq!(replace("abc", "b", "$1", 1, 0).unwrap_err(), "No group 1");
    }
}
