//! KDA's log-parsing functions, which return a ROW: REGEX_LOG_PARSE,
//! FAST_REGEX_LOG_PARSE, VARIABLE_COLUMN_LOG_PARSE, FIXED_COLUMN_LOG_PARSE, SYS_LOG_PARSE and
//! W3C_LOG_PARSE.
//!
//! KDA apps take the ROW apart in an enclosing query:
//! `SELECT STREAM t.r."COLUMN1" FROM (SELECT STREAM REGEX_LOG_PARSE(s, p) AS r
//! FROM S) AS t`. Sluice's streams hold scalar columns, so the planner
//! expands a ROW-valued select item of a subquery into one column per field,
//! named `<ROW>.<FIELD>` (`R.COLUMN1`), each the same call with the field's
//! position as a last argument, and resolves `t.r."COLUMN1"` to that column
//! (`plan::select`, `plan::scope`). [`row_fields`] gives the fields from the
//! call's literal arguments; the UDFs here compute one field each.
//!
//! - `REGEX_LOG_PARSE(<string>, <java regex>)`: fields COLUMN1..COLUMNn, one
//!   per capture group, left to right; the whole string must match (else
//!   every field is NULL).
//! - `FAST_REGEX_LOG_PARSE(<string>, <fast regex>)`: fields COLUMN1..COLUMNn,
//!   one per top-level group, matched lazily left to right without
//!   backtracking in the Fast Regex language (`sluice_fastregex`, which
//!   documents how Sluice reads the reference); characters not accounted
//!   for give NULLs.
//! - `VARIABLE_COLUMN_LOG_PARSE(<string>, <columns>, <delimiter> [, <escape>
//!   [, <quote>]])`: splits at the delimiter (a character or a string);
//!   `<columns>` is a count (fields COLUMN1..COLUMNn) or a list `'NAME TYPE
//!   VARCHAR(16), ...'` (the planner casts each field to its type). A field
//!   past the end of the string is NULL; text past the last field stays in
//!   it. An escape character takes the next character literally; a quote
//!   string of one character (or a begin and an end character) encloses a
//!   field whose delimiters are text.
//! - `FIXED_COLUMN_LOG_PARSE(<string>, '<name> TYPE <type> [NOT NULL] START
//!   <n> [FOR <m>] [, ...]')`: each field the characters from position n
//!   (0-based), m of them or to the end, converted to its type (blanks
//!   around a non-character value trimmed); a DATE / TIME / TIMESTAMP
//!   field may carry a SimpleDateFormat pattern after its type.
//! - `SYS_LOG_PARSE(<string>)`: a syslog entry `Mon DD HH:MM:SS rest`:
//!   COLUMN1 the TIMESTAMP (syslog writes no year: 1970, as Java's
//!   SimpleDateFormat gives a pattern without one), COLUMN2 the rest; an
//!   entry that does not start with such a time gives NULLs.
//! - `W3C_LOG_PARSE(<string>, <format>)`: a predefined format (COMMON,
//!   COMMON WITH VHOST, NCSA EXTENDED, REFERER, AGENT) or an Apache
//!   `mod_log_config` format string; fields COLUMN1..COLUMNn, one per `%`
//!   specifier, as text (the reference says some are numeric: CAST them).
//!   A specifier between double quotes in the format takes everything up
//!   to the closing quote, `%t` a bracketed time (brackets kept), any other
//!   one a run of non-blanks; the whole entry must fit (else all NULL).

use std::cell::RefCell;
use std::ops::Range;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::error::{DataFusionError, Result};
use datafusion::sql::sqlparser::ast::{Expr, Value};

use super::rewrite::{integer_literal, string_literal};
use super::{KdaFunction, all, int_arg, row_error, string_arg};
use crate::types::SqlType;

/// Functions whose value is a ROW (lower-case, as DataFusion names them).
pub const ROW_FUNCTIONS: [&str; 6] = [
    "regex_log_parse",
    "fast_regex_log_parse",
    "variable_column_log_parse",
    "fixed_column_log_parse",
    "sys_log_parse",
    "w3c_log_parse",
];

/// One field of a ROW-valued call: its name and, when the call declares
/// it, its type (the planner casts the field to it).
#[derive(Debug, Clone, PartialEq)]
pub struct RowField {
    /// The field's name, e.g. `COLUMN1`.
    pub name: String,
    /// The declared type, if any (VARIABLE_COLUMN_LOG_PARSE's list).
    pub sql_type: Option<SqlType>,
    /// A SimpleDateFormat pattern for a DATE / TIME / TIMESTAMP field
    /// (FIXED_COLUMN_LOG_PARSE): the planner converts with it.
    pub format: Option<String>,
}

fn columns(n: usize) -> Vec<RowField> {
    (1..=n)
        .map(|i| RowField {
            name: format!("COLUMN{i}"),
            sql_type: None,
            format: None,
        })
        .collect()
}

/// The call that computes field `k` (0-based) of a ROW-valued call: the
/// same call with the field's position (1-based) as a last argument.
pub fn field_call(
    call: &datafusion::sql::sqlparser::ast::Function,
    k: usize,
) -> datafusion::sql::sqlparser::ast::Function {
    use datafusion::sql::sqlparser::ast::{FunctionArg, FunctionArgExpr, FunctionArguments};
    let mut f = call.clone();
    if let FunctionArguments::List(list) = &mut f.args {
        list.args
            .push(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::value(
                Value::Number((k + 1).to_string(), false),
            ))));
    }
    f
}

/// The fields of a ROW-valued call `name(args)` (`name` lower-case), from
/// its literal arguments; `Err` says what is wrong with them.
pub fn row_fields(name: &str, args: &[Expr]) -> std::result::Result<Vec<RowField>, String> {
    match name {
        "regex_log_parse" => {
            let [_, pattern] = args else {
                return Err(format!(
                    "REGEX_LOG_PARSE takes 2 arguments, got {}; the signature is {REGEX_USAGE}",
                    args.len()
                ));
            };
            let pattern = string_literal(pattern).ok_or_else(|| {
                format!("REGEX_LOG_PARSE's pattern must be a string literal (its groups name the columns); the signature is {REGEX_USAGE}")
            })?;
            let regex = super::java_regex::compile(pattern).map_err(|e| e.to_string())?;
            let groups = regex.captures_len() - 1;
            if groups == 0 {
                return Err(format!(
                    "REGEX_LOG_PARSE's pattern '{pattern}' has no group: each ( ) group is a column"
                ));
            }
            Ok(columns(groups))
        }
        "fast_regex_log_parse" => {
            let [_, pattern] = args else {
                return Err(format!(
                    "FAST_REGEX_LOG_PARSE takes 2 arguments, got {}; the signature is {FAST_REGEX_USAGE}",
                    args.len()
                ));
            };
            let pattern = string_literal(pattern).ok_or_else(|| {
                format!("FAST_REGEX_LOG_PARSE's pattern must be a string literal (its groups name the columns); the signature is {FAST_REGEX_USAGE}")
            })?;
            let regex = sluice_fastregex::FastRegex::new(pattern).map_err(|e| e.to_string())?;
            Ok(columns(regex.columns()))
        }
        "variable_column_log_parse" => {
            if !(3..=5).contains(&args.len()) {
                return Err(format!(
                    "VARIABLE_COLUMN_LOG_PARSE takes 3 to 5 arguments, got {}; the signature is {VARIABLE_USAGE}",
                    args.len()
                ));
            }
            if let Some(n) = integer_literal(&args[1]).and_then(|n| usize::try_from(n).ok()) {
                if n == 0 {
                    return Err("VARIABLE_COLUMN_LOG_PARSE needs at least one column".into());
                }
                return Ok(columns(n));
            }
            let spec = string_literal(&args[1]).ok_or_else(|| {
                format!("VARIABLE_COLUMN_LOG_PARSE's columns must be a count or a string literal 'NAME TYPE VARCHAR(16), ...'; the signature is {VARIABLE_USAGE}")
            })?;
            parse_column_list(spec)
        }
        "fixed_column_log_parse" => {
            let [_, spec] = args else {
                return Err(format!(
                    "FIXED_COLUMN_LOG_PARSE takes 2 arguments, got {}; the signature is {FIXED_USAGE}",
                    args.len()
                ));
            };
            let spec = string_literal(spec).ok_or_else(|| {
                format!("FIXED_COLUMN_LOG_PARSE's column descriptions must be a string literal; the signature is {FIXED_USAGE}")
            })?;
            Ok(parse_fixed_columns(spec)?
                .into_iter()
                .map(|c| c.field)
                .collect())
        }
        "sys_log_parse" => {
            if args.len() != 1 {
                return Err(format!(
                    "SYS_LOG_PARSE takes 1 argument, got {}; the signature is SYS_LOG_PARSE(<string>)",
                    args.len()
                ));
            }
            let mut fields = columns(2);
            fields[0].sql_type = Some(SqlType::Timestamp);
            Ok(fields)
        }
        "w3c_log_parse" => {
            let [_, format] = args else {
                return Err(format!(
                    "W3C_LOG_PARSE takes 2 arguments, got {}; the signature is {W3C_USAGE}",
                    args.len()
                ));
            };
            let format = string_literal(format).ok_or_else(|| {
                format!(
                    "W3C_LOG_PARSE's format must be a string literal; the signature is {W3C_USAGE}"
                )
            })?;
            let (_, fields) = w3c_regex(format)?;
            Ok(columns(fields))
        }
        _ => Err(format!("{name} is not a ROW function")),
    }
}

const W3C_USAGE: &str = "W3C_LOG_PARSE(<string>, <format-string>)";
const FIXED_USAGE: &str =
    "FIXED_COLUMN_LOG_PARSE(<string>, '<name> TYPE <type> START <n> [FOR <m>], ...')";

/// One column of FIXED_COLUMN_LOG_PARSE: its field and where it lies.
#[derive(Debug, Clone, PartialEq)]
struct FixedColumn {
    field: RowField,
    start: usize,
    length: Option<usize>,
}

/// `'<name> TYPE <type> ['<format>'] [NOT NULL] START <n> [FOR <m>], ...'`.
fn parse_fixed_columns(spec: &str) -> std::result::Result<Vec<FixedColumn>, String> {
    let mut out = Vec::new();
    for part in split_top_level(spec) {
        let part = part.trim();
        let upper = part.to_ascii_uppercase();
        let start_at = upper.rfind(" START ").ok_or_else(|| {
            format!("column '{part}' in FIXED_COLUMN_LOG_PARSE has no START <position>")
        })?;
        let (head, place) = (&part[..start_at], &part[start_at + 7..]);
        let place_upper = place.to_ascii_uppercase();
        let (start, length) = match place_upper.find(" FOR ") {
            Some(f) => (&place[..f], Some(&place[f + 5..])),
            None => (place, None),
        };
        let number = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| format!("column '{part}': '{}' is not a position", s.trim()))
        };
        let start = number(start)?;
        let length = length.map(number).transpose()?;
        // A format pattern in quotes, after the type.
        let (head, format) = match (head.find('\''), head.rfind('\'')) {
            (Some(a), Some(b)) if b > a => (
                format!("{}{}", &head[..a], &head[b + 1..]),
                Some(head[a + 1..b].to_string()),
            ),
            _ => (head.to_string(), None),
        };
        let mut fields = parse_column_list(&head)?;
        let Some(mut field) = fields.pop().filter(|_| fields.is_empty()) else {
            return Err(format!(
                "column '{part}' in FIXED_COLUMN_LOG_PARSE: one name and type"
            ));
        };
        field.format = format;
        out.push(FixedColumn {
            field,
            start,
            length,
        });
    }
    Ok(out)
}

/// The Apache format string a W3C format name stands for, or the string
/// itself (a custom format).
fn w3c_format(format: &str) -> std::result::Result<&str, String> {
    let name = format.trim().to_ascii_uppercase();
    let name: Vec<&str> = name.split_whitespace().collect();
    Ok(match name.join(" ").as_str() {
        "COMMON" => r#"%h %l %u %t "%r" %>s %b"#,
        "COMMON WITH VHOST" => r#"%v %h %l %u %t "%r" %>s %b"#,
        "NCSA EXTENDED" => r#"%h %l %u %t "%r" %>s %b "%[Referer]i" "%[User-agent]i""#,
        "REFERER" => "%[Referer]i -> %U",
        "AGENT" => "%[User-agent]i",
        "IIS" => {
            return Err(
                "W3C_LOG_PARSE's IIS format is not implemented yet: give its fields as an Apache format string".into(),
            );
        }
        _ if format.contains('%') => format,
        _ => {
            return Err(format!(
                "W3C_LOG_PARSE's format '{format}' is not COMMON, COMMON WITH VHOST, NCSA EXTENDED, REFERER, AGENT or an Apache format string (with % specifiers)"
            ));
        }
    })
}

/// A regex matching a whole entry of `format`, one group per specifier,
/// and the number of specifiers.
fn w3c_regex(format: &str) -> std::result::Result<(String, usize), String> {
    let apache = w3c_format(format)?;
    let chars: Vec<char> = apache.chars().collect();
    let mut re = String::from("^");
    let mut fields = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '%' {
            re.push_str(&regex::escape(&c.to_string()));
            i += 1;
            continue;
        }
        // %% is a percent sign; else modifiers, an optional {..} / [..]
        // argument, and the letter.
        i += 1;
        if chars.get(i) == Some(&'%') {
            re.push('%');
            i += 1;
            continue;
        }
        while i < chars.len()
            && (matches!(chars[i], '!' | ',' | '<' | '>') || chars[i].is_ascii_digit())
        {
            i += 1;
        }
        if let Some(&open) = chars.get(i).filter(|c| matches!(c, '{' | '[')) {
            let close = if open == '{' { '}' } else { ']' };
            while i < chars.len() && chars[i] != close {
                i += 1;
            }
            i += 1;
        }
        let Some(&letter) = chars.get(i).filter(|c| c.is_ascii_alphabetic()) else {
            return Err(format!(
                "W3C_LOG_PARSE's format '{apache}': a % specifier without its letter"
            ));
        };
        i += 1;
        fields += 1;
        let quoted = i >= 2 && chars.get(i) == Some(&'"') && re.ends_with('"');
        re.push_str(if quoted {
            r#"([^"]*)"#
        } else if letter == 't' {
            r"(\[[^\]]*\])"
        } else if i == chars.len() {
            "(.*)"
        } else {
            r"(\S*)"
        });
    }
    re.push('$');
    if fields == 0 {
        return Err(format!(
            "W3C_LOG_PARSE's format '{apache}' has no % specifier"
        ));
    }
    Ok((re, fields))
}

/// `'COL_1 TYPE VARCHAR(16), COL_2 TYPE INTEGER'` (also `NAME VARCHAR(16)`
/// without TYPE, or a bare name, VARCHAR): the fields.
fn parse_column_list(spec: &str) -> std::result::Result<Vec<RowField>, String> {
    let mut fields = Vec::new();
    for part in split_top_level(spec) {
        let part = part.trim();
        if part.is_empty() {
            return Err(format!("an empty column in '{spec}'"));
        }
        let (name, rest) = match part.find(char::is_whitespace) {
            Some(i) => (&part[..i], part[i..].trim()),
            None => (part, ""),
        };
        let rest = match rest.get(..4) {
            Some(t) if t.eq_ignore_ascii_case("TYPE") => rest[4..].trim(),
            _ => rest,
        };
        // NOT NULL is a promise about the data; the type is what matters.
        let rest = match rest.len().checked_sub(8) {
            Some(cut) if rest[cut..].eq_ignore_ascii_case("NOT NULL") => rest[..cut].trim(),
            _ => rest,
        };
        let sql_type = if rest.is_empty() {
            None
        } else {
            Some(SqlType::parse(rest).map_err(|e| format!("column {name} in '{spec}': {e}"))?)
        };
        let name = if let Some(quoted) = name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
            quoted.to_string()
        } else {
            name.to_uppercase()
        };
        fields.push(RowField {
            name,
            sql_type,
            format: None,
        });
    }
    Ok(fields)
}

/// Splits at commas outside parentheses (`DECIMAL(8,2)` stays whole).
fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

const REGEX_USAGE: &str = "REGEX_LOG_PARSE(<string>, <regex-pattern>)";
const FAST_REGEX_USAGE: &str = "FAST_REGEX_LOG_PARSE(<string>, <fast-regex-pattern>)";
const VARIABLE_USAGE: &str =
    "VARIABLE_COLUMN_LOG_PARSE(<string>, <columns>, <delimiter> [, <escape> [, <quote>]])";

/// The UDFs: each takes the call's arguments and the field's position.
pub fn functions() -> Vec<KdaFunction> {
    vec![
        KdaFunction::new(
            "regex_log_parse",
            "REGEX_LOG_PARSE(<string>, <regex-pattern>)",
            |t| all(t, &[string_arg, string_arg, int_arg]),
            |_| DataType::Utf8,
            eval_regex,
        ),
        KdaFunction::new(
            "fast_regex_log_parse",
            FAST_REGEX_USAGE,
            |t| all(t, &[string_arg, string_arg, int_arg]),
            |_| DataType::Utf8,
            eval_fast_regex,
        ),
        KdaFunction::new(
            "w3c_log_parse",
            "W3C_LOG_PARSE(<string>, <format-string>)",
            |t| all(t, &[string_arg, string_arg, int_arg]),
            |_| DataType::Utf8,
            eval_w3c,
        ),
        KdaFunction::new(
            "sys_log_parse",
            "SYS_LOG_PARSE(<string>)",
            |t| all(t, &[string_arg, int_arg]),
            |_| DataType::Utf8,
            eval_sys,
        ),
        KdaFunction::new(
            "fixed_column_log_parse",
            "FIXED_COLUMN_LOG_PARSE(<string>, <column descriptions>)",
            |t| all(t, &[string_arg, string_arg, int_arg]),
            |_| DataType::Utf8,
            eval_fixed,
        ),
        KdaFunction::new(
            "variable_column_log_parse",
            "VARIABLE_COLUMN_LOG_PARSE(<string>, <columns>, <delimiter> [, <escape> [, <quote>]])",
            coerce_variable,
            |_| DataType::Utf8,
            eval_variable,
        ),
    ]
}

fn coerce_variable(t: &[DataType]) -> Option<Vec<DataType>> {
    // (string, columns, delimiter [, escape [, quote]], field)
    let columns = |d: &DataType| string_arg(d).or_else(|| int_arg(d));
    match t.len() {
        4 => all(t, &[string_arg, columns, string_arg, int_arg]),
        5 => all(t, &[string_arg, columns, string_arg, string_arg, int_arg]),
        6 => all(
            t,
            &[
                string_arg, columns, string_arg, string_arg, string_arg, int_arg,
            ],
        ),
        _ => None,
    }
}

fn field_of(args: &[ArrayRef]) -> Result<usize> {
    let k = args[args.len() - 1].as_primitive::<Int64Type>();
    if k.is_empty() || k.is_null(0) || k.value(0) < 1 {
        return Err(DataFusionError::Internal(
            "a ROW field position must be a positive literal".into(),
        ));
    }
    Ok(k.value(0) as usize)
}

/// Every field's span in every string of a batch, kept for the next field's
/// call: the planner computes each field of a ROW with a call of its own,
/// on the same batch one after the other, so the strings are parsed once.
struct ParsedBatch {
    /// The strings (held, so the array cannot be freed and its address
    /// reused while this is kept).
    input: ArrayRef,
    /// The function and the text its parser was made from.
    function: &'static str,
    source: String,
    /// Row i's fields are `spans[starts[i]..starts[i + 1]]`; none: NULLs.
    starts: Vec<usize>,
    spans: Vec<Option<Range<usize>>>,
}

thread_local! {
    static PARSED: RefCell<Option<ParsedBatch>> = const { RefCell::new(None) };
}

/// A log parser made from the call's text argument (a pattern or format):
/// fills the spans of one string's fields, or leaves them empty when the
/// string does not parse.
trait FieldParser {
    fn fields(&mut self, text: &str, spans: &mut Vec<Option<Range<usize>>>) -> Result<()>;
}

/// Field k of each string: `args` are (string, the text the parser is made
/// from, field position); `make` makes the parser from that text. A string
/// that does not parse, or has no such field: NULL.
fn eval_fields<P: FieldParser>(
    args: &[ArrayRef],
    function: &'static str,
    make: impl Fn(&str) -> std::result::Result<P, String>,
) -> Result<ArrayRef> {
    let input = args[0].as_string::<i32>();
    let sources = args[1].as_string::<i32>();
    let field = field_of(args)?;
    let source = (0..input.len())
        .find(|&i| !sources.is_null(i))
        .map(|i| sources.value(i));
    let one_source = source
        .is_some_and(|s| (0..input.len()).all(|i| sources.is_null(i) || sources.value(i) == s));
    let mut out = StringBuilder::with_capacity(input.len(), input.value_data().len());
    let Some(source) = source.filter(|_| one_source) else {
        // Sources differ from row to row: parse row by row.
        let mut parser: Option<(String, P)> = None;
        let mut spans = Vec::new();
        for i in 0..input.len() {
            if input.is_null(i) || sources.is_null(i) {
                out.append_null();
                continue;
            }
            let text = sources.value(i);
            let p = match parser.as_mut() {
                Some((t, p)) if t == text => p,
                _ => {
                    let p = make(text).map_err(|e| row_error(function, e))?;
                    &mut parser.insert((text.to_string(), p)).1
                }
            };
            spans.clear();
            p.fields(input.value(i), &mut spans)?;
            match spans.get(field - 1).cloned().flatten() {
                Some(span) => out.append_value(&input.value(i)[span]),
                None => out.append_null(),
            }
        }
        return Ok(Arc::new(out.finish()));
    };
    PARSED.with(|cell| {
        let mut cell = cell.borrow_mut();
        let fresh = !cell.as_ref().is_some_and(|p| {
            Arc::ptr_eq(&p.input, &args[0]) && p.function == function && p.source == source
        });
        if fresh {
            let mut parser = make(source).map_err(|e| row_error(function, e))?;
            let mut starts = Vec::with_capacity(input.len() + 1);
            let mut spans = Vec::new();
            let mut row = Vec::new();
            starts.push(0);
            for i in 0..input.len() {
                if !input.is_null(i) && !sources.is_null(i) {
                    row.clear();
                    parser.fields(input.value(i), &mut row)?;
                    spans.extend(row.iter().cloned());
                }
                starts.push(spans.len());
            }
            *cell = Some(ParsedBatch {
                input: Arc::clone(&args[0]),
                function,
                source: source.to_string(),
                starts,
                spans,
            });
        }
        let parsed = cell.as_ref().ok_or_else(|| {
            DataFusionError::Internal(format!("{function}: the parsed batch is gone"))
        })?;
        for i in 0..input.len() {
            let row = &parsed.spans[parsed.starts[i]..parsed.starts[i + 1]];
            match row.get(field - 1).cloned().flatten() {
                Some(span) => out.append_value(&input.value(i)[span]),
                None => out.append_null(),
            }
        }
        Ok(Arc::new(out.finish()) as ArrayRef)
    })
}

/// A regex's capture groups as fields.
struct Captures {
    regex: regex::Regex,
    locations: regex::CaptureLocations,
}

impl Captures {
    fn new(re: &str) -> std::result::Result<Self, String> {
        let regex = regex::Regex::new(re).map_err(|e| e.to_string())?;
        let locations = regex.capture_locations();
        Ok(Captures { regex, locations })
    }
}

impl FieldParser for Captures {
    fn fields(&mut self, text: &str, spans: &mut Vec<Option<Range<usize>>>) -> Result<()> {
        if self
            .regex
            .captures_read(&mut self.locations, text)
            .is_some()
        {
            spans.extend(
                (1..self.locations.len())
                    .map(|g| self.locations.get(g).map(|(start, end)| start..end)),
            );
        }
        Ok(())
    }
}

/// A FAST_REGEX_LOG_PARSE pattern's columns as fields.
struct FastRegexFields {
    regex: sluice_fastregex::FastRegex,
    cache: sluice_fastregex::Cache,
    spans: Vec<Range<usize>>,
}

impl FieldParser for FastRegexFields {
    fn fields(&mut self, text: &str, spans: &mut Vec<Option<Range<usize>>>) -> Result<()> {
        let matched = self
            .regex
            .captures(&mut self.cache, text, &mut self.spans)
            .map_err(|e| row_error("FAST_REGEX_LOG_PARSE", e))?;
        if matched {
            spans.extend(self.spans.iter().cloned().map(Some));
        }
        Ok(())
    }
}

/// One capture group of a regex per row: `compile` makes the regex from
/// the call's text argument.
fn eval_captures(
    args: &[ArrayRef],
    function: &'static str,
    compile: impl Fn(&str) -> std::result::Result<String, String>,
) -> Result<ArrayRef> {
    eval_fields(args, function, |source| Captures::new(&compile(source)?))
}

/// REGEX_LOG_PARSE: the Java pattern must match the whole string.
fn eval_regex(args: &[ArrayRef]) -> Result<ArrayRef> {
    eval_captures(args, "REGEX_LOG_PARSE", |pattern| {
        super::java_regex::translate(pattern)
            .map(|re| format!("^(?:{re})$"))
            .map_err(|e| e.to_string())
    })
}

/// FAST_REGEX_LOG_PARSE: field k of each string (NULL when some character
/// is not accounted for).
fn eval_fast_regex(args: &[ArrayRef]) -> Result<ArrayRef> {
    eval_fields(args, "FAST_REGEX_LOG_PARSE", |pattern| {
        let regex = sluice_fastregex::FastRegex::new(pattern).map_err(|e| e.to_string())?;
        let cache = regex.create_cache();
        Ok(FastRegexFields {
            regex,
            cache,
            spans: Vec::new(),
        })
    })
}

/// A syslog entry's time (`Mon DD HH:MM:SS`, year 1970) as
/// `1970-MM-DD HH:MM:SS`, and the rest of the entry.
fn sys_log(entry: &str) -> Option<(String, &str)> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let head = entry.get(..15).filter(|h| h.is_ascii())?;
    let month = MONTHS
        .iter()
        .position(|m| head[..3].eq_ignore_ascii_case(m))?
        + 1;
    if head.as_bytes()[3] != b' ' || head.as_bytes()[6] != b' ' {
        return None;
    }
    let day: u32 = head[4..6].trim().parse().ok()?;
    let time = &head[7..15];
    let t = time.as_bytes();
    let digits = |r: std::ops::Range<usize>| t[r].iter().all(u8::is_ascii_digit);
    let valid = digits(0..2)
        && t[2] == b':'
        && digits(3..5)
        && t[5] == b':'
        && digits(6..8)
        && (1..=31).contains(&day);
    if !valid {
        return None;
    }
    let rest = entry[15..].strip_prefix(' ').unwrap_or(&entry[15..]);
    Some((format!("1970-{month:02}-{day:02} {time}"), rest))
}

fn eval_sys(args: &[ArrayRef]) -> Result<ArrayRef> {
    let input = args[0].as_string::<i32>();
    let field = field_of(args)?;
    let mut out = StringBuilder::with_capacity(input.len(), input.value_data().len());
    for i in 0..input.len() {
        match (input.is_null(i), sys_log(input.value(i))) {
            (false, Some((time, _))) if field == 1 => out.append_value(time),
            (false, Some((_, rest))) if field == 2 => out.append_value(rest),
            _ => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

fn eval_fixed(args: &[ArrayRef]) -> Result<ArrayRef> {
    let input = args[0].as_string::<i32>();
    let specs = args[1].as_string::<i32>();
    let field = field_of(args)?;
    let mut out = StringBuilder::with_capacity(input.len(), input.value_data().len());
    let mut parsed: Option<(String, FixedColumn)> = None;
    for i in 0..input.len() {
        if input.is_null(i) || specs.is_null(i) {
            out.append_null();
            continue;
        }
        let spec = specs.value(i);
        if parsed.as_ref().is_none_or(|(s, _)| s != spec) {
            let columns =
                parse_fixed_columns(spec).map_err(|e| row_error("FIXED_COLUMN_LOG_PARSE", e))?;
            let column = columns.into_iter().nth(field - 1).ok_or_else(|| {
                DataFusionError::Internal("FIXED_COLUMN_LOG_PARSE: no such field".into())
            })?;
            parsed = Some((spec.to_string(), column));
        }
        let Some((_, column)) = parsed.as_ref() else {
            out.append_null();
            continue;
        };
        let text: Vec<char> = input.value(i).chars().collect();
        if column.start >= text.len() {
            out.append_null();
            continue;
        }
        let end = column
            .length
            .map_or(text.len(), |l| (column.start + l).min(text.len()));
        let value: String = text[column.start..end].iter().collect();
        let character = matches!(
            column.field.sql_type,
            None | Some(SqlType::Varchar(_) | SqlType::Char(_))
        );
        if character {
            out.append_value(value);
        } else {
            out.append_value(value.trim());
        }
    }
    Ok(Arc::new(out.finish()))
}

fn eval_w3c(args: &[ArrayRef]) -> Result<ArrayRef> {
    eval_captures(args, "W3C_LOG_PARSE", |format| {
        w3c_regex(format).map(|(re, _)| re)
    })
}

fn eval_variable(args: &[ArrayRef]) -> Result<ArrayRef> {
    let input = args[0].as_string::<i32>();
    let delimiters = args[2].as_string::<i32>();
    let escapes = (args.len() >= 5).then(|| args[3].as_string::<i32>());
    let quotes = (args.len() >= 6).then(|| args[4].as_string::<i32>());
    let field = field_of(args)?;
    // How many fields the row has: the last one keeps the rest of the text.
    let count = match args[1].data_type() {
        DataType::Int64 => {
            let n = args[1].as_primitive::<Int64Type>();
            usize::try_from(n.value(0)).unwrap_or(0)
        }
        _ => {
            let spec = args[1].as_string::<i32>();
            parse_column_list(spec.value(0))
                .map_err(|e| row_error("VARIABLE_COLUMN_LOG_PARSE", e))?
                .len()
        }
    };
    let mut out = StringBuilder::with_capacity(input.len(), input.value_data().len());
    for i in 0..input.len() {
        if input.is_null(i) || delimiters.is_null(i) {
            out.append_null();
            continue;
        }
        let chars_of = |a: Option<&datafusion::arrow::array::StringArray>| -> Vec<char> {
            a.filter(|a| !a.is_null(i))
                .map(|a| a.value(i).chars().collect())
                .unwrap_or_default()
        };
        let quote = chars_of(quotes);
        let quotes = quote
            .first()
            .map(|&open| (open, quote.get(1).copied().unwrap_or(open)));
        let fields = split_fields(
            input.value(i),
            delimiters.value(i),
            chars_of(escapes).first().copied(),
            quotes,
            count,
        );
        match fields.get(field - 1) {
            Some(f) => out.append_value(f),
            None => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

/// Splits `s` into at most `count` fields at `delimiter`; the last field
/// keeps the rest of the text.
fn split_fields(
    s: &str,
    delimiter: &str,
    escape: Option<char>,
    quote: Option<(char, char)>,
    count: usize,
) -> Vec<String> {
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut chars = s.char_indices().peekable();
    let mut quoted = false;
    while let Some((i, c)) = chars.next() {
        if fields.len() + 1 < count
            && !quoted
            && !delimiter.is_empty()
            && s[i..].starts_with(delimiter)
        {
            fields.push(std::mem::take(&mut current));
            for _ in 1..delimiter.chars().count() {
                chars.next();
            }
            continue;
        }
        if Some(c) == escape {
            if let Some((_, next)) = chars.next() {
                current.push(next);
            }
            continue;
        }
        if let Some((open, close)) = quote
            && ((!quoted && c == open) || (quoted && c == close))
        {
            quoted = !quoted;
            continue;
        }
        current.push(c);
    }
    fields.push(current);
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_columns_split_at_the_delimiter_and_keep_the_rest_in_the_last() {
        assert_eq!(split_fields("a,b,c", ",", None, None, 3), ["a", "b", "c"]);
        assert_eq!(
            split_fields("a,b,c,d", ",", None, None, 3),
            ["a", "b", "c,d"]
        );
        assert_eq!(split_fields("a,b", ",", None, None, 3), ["a", "b"]);
        assert_eq!(
            split_fields("a::b::c", "::", None, None, 3),
            ["a", "b", "c"]
        );
        assert_eq!(
            split_fields(r#"a\,b,"c,d",e"#, ",", Some('\\'), Some(('"', '"')), 3),
            ["a,b", "c,d", "e"]
        );
        assert_eq!(
            split_fields("[a,b],c", ",", None, Some(('[', ']')), 2),
            ["a,b", "c"]
        );
    }

    #[test]
    fn sys_log_entries_split_into_time_and_rest() {
        assert_eq!(
            sys_log("Dec  7 10:00:01 host sshd[42]: accepted"),
            Some(("1970-12-07 10:00:01".to_string(), "host sshd[42]: accepted"))
        );
        assert_eq!(
            sys_log("Feb 28 23:59:59 h m").map(|(t, _)| t),
            Some("1970-02-28 23:59:59".to_string())
        );
        assert!(sys_log("not a syslog line").is_none());
        assert!(sys_log("Foo  7 10:00:01 x").is_none());
        assert!(sys_log("Dec  7 10:00").is_none());
    }

    #[test]
    fn fixed_columns_have_a_start_a_length_and_a_type() {
        let c = parse_fixed_columns(
            "ID TYPE INTEGER NOT NULL START 0 FOR 4, \"when\" TYPE TIMESTAMP 'dd/MMM/yyyy:HH:mm:ss' START 5 FOR 20, REST TYPE VARCHAR(64) START 26",
        )
        .unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!((c[0].start, c[0].length), (0, Some(4)));
        assert_eq!(c[0].field.sql_type, Some(SqlType::Integer));
        assert_eq!(c[1].field.name, "when");
        assert_eq!(c[1].field.format.as_deref(), Some("dd/MMM/yyyy:HH:mm:ss"));
        assert_eq!(c[1].field.sql_type, Some(SqlType::Timestamp));
        assert_eq!((c[2].start, c[2].length), (26, None));
        assert!(parse_fixed_columns("A TYPE INTEGER").is_err());
    }

    fn w3c(line: &str, format: &str) -> Option<Vec<String>> {
        let (re, n) = w3c_regex(format).unwrap();
        let caps = regex::Regex::new(&re).unwrap().captures(line)?;
        Some((1..=n).map(|k| caps[k].to_string()).collect())
    }

    #[test]
    fn w3c_formats_split_an_entry_into_one_field_per_specifier() {
        let line = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#;
        assert_eq!(
            w3c(line, "COMMON").unwrap(),
            [
                "127.0.0.1",
                "-",
                "frank",
                "[10/Oct/2000:13:55:36 -0700]",
                "GET /apache_pb.gif HTTP/1.0",
                "200",
                "2326"
            ]
        );
        let extended = format!(r#"{line} "http://example.com/" "Mozilla/4.08 (Win98)""#);
        let f = w3c(&extended, "ncsa  extended").unwrap();
        assert_eq!(f.len(), 9);
        assert_eq!(f[7], "http://example.com/");
        assert_eq!(f[8], "Mozilla/4.08 (Win98)");
        assert_eq!(
            w3c("Mozilla/5.0 (X11)", "AGENT").unwrap(),
            ["Mozilla/5.0 (X11)"]
        );
        assert_eq!(w3c("a b", "%h %>s").unwrap(), ["a", "b"]);
        assert!(w3c("not a log line", "COMMON").is_none());
        assert!(w3c_regex("IIS").is_err());
        assert!(w3c_regex("nothing").is_err());
    }

    #[test]
    fn column_lists_name_and_type_the_fields() {
        let f =
            parse_column_list("COL_1 TYPE VARCHAR(16), col_2 TYPE DECIMAL(8,2), \"x\" INTEGER, y")
                .unwrap();
        let names: Vec<&str> = f.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["COL_1", "COL_2", "x", "Y"]);
        assert_eq!(f[0].sql_type, Some(SqlType::Varchar(16)));
        assert_eq!(f[1].sql_type, Some(SqlType::Decimal(8, 2)));
        assert_eq!(f[2].sql_type, Some(SqlType::Integer));
        assert_eq!(f[3].sql_type, None);
        assert!(parse_column_list("A TYPE NOPE").is_err());
    }
}
