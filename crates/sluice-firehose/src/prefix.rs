//! S3 prefixes as Firehose evaluates them: [`PrefixTemplate::parse`] checks a
//! `Prefix` or `ErrorOutputPrefix` against AWS's semantic rules at create time,
//! and [`PrefixTemplate::evaluate`] expands `!{timestamp:...}` (Java
//! `DateTimeFormatter` patterns), `!{firehose:random-string}`,
//! `!{firehose:error-output-type}` and `!{partitionKeyFromQuery:key}` for one
//! object. [`object_suffix`] builds the
//! `<stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid><ext>` part of the key.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Timelike, Utc};

use crate::error::{FirehoseError, Result};

/// Longest evaluated prefix AWS accepts.
pub const MAX_EVALUATED_PREFIX: usize = 512;

/// The default time part, `yyyy/MM/dd/HH/`, appended to a prefix that has no
/// timestamp expression.
const DEFAULT_TIME_PATTERN: &str = "yyyy/MM/dd/HH/";

/// Which configuration field a template came from; the rules differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefixKind {
    /// `Prefix`: where delivered objects go.
    Prefix,
    /// `ErrorOutputPrefix`: where failed records go.
    ErrorOutput,
}

impl PrefixKind {
    fn field(self) -> &'static str {
        match self {
            Self::Prefix => "Prefix",
            Self::ErrorOutput => "ErrorOutputPrefix",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Literal(String),
    Timestamp(JavaDateFormat),
    RandomString,
    ErrorOutputType,
    PartitionKeyFromQuery(String),
    PartitionKeyFromLambda(String),
}

/// A parsed, validated prefix, ready to evaluate per object.
#[derive(Debug, Clone, PartialEq)]
pub struct PrefixTemplate {
    segments: Vec<Segment>,
}

/// What one evaluation of a prefix needs.
#[derive(Debug, Clone, Copy)]
pub struct PrefixContext<'a> {
    /// Arrival time of the oldest record in the object.
    pub timestamp: DateTime<Utc>,
    /// Seed for `!{firehose:random-string}`; the same seed gives the same
    /// strings, so a retried delivery writes the same key.
    pub random_seed: u64,
    /// `processing-failed`, `format-conversion-failed`, ... for error output.
    pub error_output_type: Option<&'a str>,
    /// Partition keys of the buffer (dynamic partitioning).
    pub partition_keys: &'a BTreeMap<String, String>,
}

impl PrefixTemplate {
    /// Parses the configured `Prefix` and `ErrorOutputPrefix` together, since
    /// AWS's rules relate the two. Returns (prefix, error output prefix).
    pub fn parse_pair(prefix: Option<&str>, error_prefix: Option<&str>) -> Result<(Self, Self)> {
        let prefix_raw = prefix.unwrap_or("");
        let error_raw = error_prefix.filter(|p| !p.is_empty());
        let p = Self::parse_raw(prefix_raw, PrefixKind::Prefix)?;
        let p_has_expr = p.has_expressions();
        let e = match error_raw {
            None if p_has_expr => {
                return Err(FirehoseError::invalid(
                    "ErrorOutputPrefix",
                    "ErrorOutputPrefix cannot be null or empty when Prefix contains expressions.",
                ));
            }
            None => {
                // `<prefix><error-output-type>/yyyy/MM/dd/HH/`
                let mut segments = p.segments.clone();
                segments.push(Segment::ErrorOutputType);
                segments.push(Segment::Literal("/".to_owned()));
                Self { segments }
            }
            Some(raw) => {
                let mut e = Self::parse_raw(raw, PrefixKind::ErrorOutput)?;
                if e.has_expressions() {
                    if !e.segments.contains(&Segment::ErrorOutputType) {
                        return Err(FirehoseError::Prefix {
                            field: "ErrorOutputPrefix",
                            prefix: raw.to_owned(),
                            reason: "ErrorOutputPrefix must contain at least one instance of !{firehose:error-output-type} when it contains expressions.".to_owned(),
                        });
                    }
                } else {
                    e.segments.push(Segment::ErrorOutputType);
                    e.segments.push(Segment::Literal("/".to_owned()));
                }
                e
            }
        };
        Ok((p.with_default_time(), e.with_default_time()))
    }

    fn has_expressions(&self) -> bool {
        self.segments
            .iter()
            .any(|s| !matches!(s, Segment::Literal(_)))
    }

    fn with_default_time(mut self) -> Self {
        if !self
            .segments
            .iter()
            .any(|s| matches!(s, Segment::Timestamp(_)))
        {
            // Parsing a constant pattern cannot fail; fall back to nothing if it did.
            if let Ok(f) = JavaDateFormat::parse(DEFAULT_TIME_PATTERN) {
                self.segments.push(Segment::Timestamp(f));
            }
        }
        self
    }

    /// Parses one prefix by itself (no defaults appended).
    fn parse_raw(raw: &str, kind: PrefixKind) -> Result<Self> {
        let field = kind.field();
        let err = |reason: String| FirehoseError::Prefix {
            field,
            prefix: raw.to_owned(),
            reason,
        };
        if raw.chars().count() > 1024 {
            return Err(err("a prefix can be at most 1024 characters.".to_owned()));
        }
        let mut segments = Vec::new();
        let mut rest = raw;
        let mut literal = String::new();
        while let Some(start) = rest.find("!{") {
            literal.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(err(format!(
                    "the expression starting at '{}' is not closed with '}}'; the sequence '!{{' can only appear in !{{namespace:value}} expressions.",
                    &rest[start..]
                )));
            };
            let expr = &after[..end];
            let Some((ns, value)) = expr.split_once(':') else {
                return Err(err(format!(
                    "expression !{{{expr}}} is not of the form !{{namespace:value}}."
                )));
            };
            if !literal.is_empty() {
                segments.push(Segment::Literal(std::mem::take(&mut literal)));
            }
            let seg = match ns {
                "timestamp" => Segment::Timestamp(
                    JavaDateFormat::parse(value)
                        .map_err(|e| err(format!("invalid timestamp pattern '{value}': {e}")))?,
                ),
                "firehose" => match value {
                    "random-string" => Segment::RandomString,
                    "error-output-type" if kind == PrefixKind::Prefix => {
                        return Err(err(
                            "the !{firehose:error-output-type} expression can only be used in ErrorOutputPrefix."
                                .to_owned(),
                        ));
                    }
                    "error-output-type" => Segment::ErrorOutputType,
                    other => {
                        return Err(err(format!(
                            "unknown firehose namespace value '{other}'; valid values are error-output-type and random-string."
                        )));
                    }
                },
                "partitionKeyFromQuery" | "partitionKeyFromLambda" => {
                    if value.is_empty() {
                        return Err(err(format!("{ns} expression needs a key name.")));
                    }
                    if ns == "partitionKeyFromQuery" {
                        Segment::PartitionKeyFromQuery(value.to_owned())
                    } else {
                        Segment::PartitionKeyFromLambda(value.to_owned())
                    }
                }
                other => {
                    return Err(err(format!(
                        "unknown namespace '{other}'; valid namespaces are firehose, timestamp, partitionKeyFromQuery and partitionKeyFromLambda."
                    )));
                }
            };
            segments.push(seg);
            rest = &after[end + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        Ok(Self { segments })
    }

    /// Partition key names this prefix uses (`partitionKeyFromQuery` or
    /// `partitionKeyFromLambda`).
    pub fn partition_keys(&self) -> Vec<&str> {
        self.segments
            .iter()
            .filter_map(|s| match s {
                Segment::PartitionKeyFromQuery(k) | Segment::PartitionKeyFromLambda(k) => {
                    Some(k.as_str())
                }
                _ => None,
            })
            .collect()
    }

    /// Expands the template for one object.
    pub fn evaluate(&self, ctx: &PrefixContext<'_>) -> Result<String> {
        let mut out = String::new();
        let mut random_index = 0u64;
        for seg in &self.segments {
            match seg {
                Segment::Literal(s) => out.push_str(s),
                Segment::Timestamp(f) => out.push_str(&f.format(ctx.timestamp)),
                Segment::RandomString => {
                    out.push_str(&random_string(ctx.random_seed, random_index));
                    random_index += 1;
                }
                Segment::ErrorOutputType => {
                    out.push_str(ctx.error_output_type.unwrap_or("processing-failed"))
                }
                Segment::PartitionKeyFromQuery(k) | Segment::PartitionKeyFromLambda(k) => {
                    match ctx.partition_keys.get(k) {
                        Some(v) => out.push_str(v),
                        None => {
                            return Err(FirehoseError::Prefix {
                                field: "Prefix",
                                prefix: out,
                                reason: format!("partition key '{k}' has no value for this record"),
                            });
                        }
                    }
                }
            }
        }
        if out.chars().count() > MAX_EVALUATED_PREFIX {
            return Err(FirehoseError::Prefix {
                field: "Prefix",
                prefix: out,
                reason: format!(
                    "the evaluated prefix is longer than {MAX_EVALUATED_PREFIX} characters"
                ),
            });
        }
        Ok(out)
    }
}

/// The 11-character `!{firehose:random-string}` value number `index` for a
/// buffer seeded with `seed`: lowercase hex, deterministic.
fn random_string(seed: u64, index: u64) -> String {
    let a = splitmix64(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let b = splitmix64(a);
    let s = format!("{a:016x}{b:016x}");
    s[..11].to_owned()
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `<stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid><ext>`.
pub fn object_suffix(
    stream: &str,
    version: u64,
    oldest_arrival: DateTime<Utc>,
    uuid: &str,
    extension: &str,
) -> String {
    format!(
        "{stream}-{version}-{}-{uuid}{extension}",
        oldest_arrival.format("%Y-%m-%d-%H-%M-%S")
    )
}

#[derive(Debug, Clone, PartialEq)]
enum DateToken {
    Literal(String),
    Field(char, usize),
}

/// A Java `DateTimeFormatter` pattern (the subset that formats a UTC
/// instant): letters are fields, text in single quotes is literal, `''` is a
/// quote, `[` `]` optional sections always print (every field is present).
#[derive(Debug, Clone, PartialEq)]
pub struct JavaDateFormat {
    tokens: Vec<DateToken>,
}

impl JavaDateFormat {
    /// Parses a pattern, rejecting letters and widths Java would reject.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                // quoted literal, '' inside or alone is one quote
                if chars.get(i + 1) == Some(&'\'') {
                    tokens.push(DateToken::Literal("'".to_owned()));
                    i += 2;
                    continue;
                }
                let mut lit = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(format!(
                                "Pattern ends with an incomplete string literal: {pattern}"
                            ));
                        }
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            lit.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            lit.push(ch);
                            i += 1;
                        }
                    }
                }
                tokens.push(DateToken::Literal(lit));
            } else if c.is_ascii_alphabetic() {
                let mut n = 1;
                while chars.get(i + n) == Some(&c) {
                    n += 1;
                }
                check_field(c, n)?;
                tokens.push(DateToken::Field(c, n));
                i += n;
            } else if matches!(c, '{' | '}' | '#') {
                return Err(format!("Pattern includes reserved character: '{c}'"));
            } else if matches!(c, '[' | ']') {
                i += 1;
            } else {
                tokens.push(DateToken::Literal(c.to_string()));
                i += 1;
            }
        }
        Ok(Self { tokens })
    }

    /// Formats `t` (UTC).
    pub fn format(&self, t: DateTime<Utc>) -> String {
        let mut out = String::new();
        for tok in &self.tokens {
            match tok {
                DateToken::Literal(s) => out.push_str(s),
                DateToken::Field(c, n) => format_field(&mut out, *c, *n, t),
            }
        }
        out
    }
}

fn check_field(c: char, n: usize) -> Result<(), String> {
    let max = match c {
        'y' | 'u' | 'Y' => 19,
        'M' | 'L' | 'Q' | 'q' | 'E' => 5,
        'd' | 'H' | 'h' | 'k' | 'K' | 'm' | 's' => 2,
        'D' => 3,
        'S' => 9,
        'n' | 'N' | 'A' => 19,
        'a' => 1,
        'G' => 5,
        'X' | 'x' | 'Z' => 5,
        'z' => 4,
        'V' => 2,
        'O' => 4,
        _ => return Err(format!("Unknown pattern letter: {c}")),
    };
    if n > max || (c == 'V' && n != 2) || (c == 'O' && n != 1 && n != 4) {
        return Err(format!("Too many pattern letters: {c}"));
    }
    Ok(())
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

fn num(out: &mut String, v: i64, width: usize) {
    if v < 0 {
        out.push('-');
    }
    let digits = v.unsigned_abs().to_string();
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(&digits);
}

fn text(out: &mut String, full: &str, n: usize) {
    match n {
        4 => out.push_str(full),
        5 => out.push_str(&full[..1]),
        _ => out.push_str(&full[..3]),
    }
}

fn format_field(out: &mut String, c: char, n: usize, t: DateTime<Utc>) {
    match c {
        'y' | 'u' | 'Y' => {
            let y = i64::from(t.year());
            if n == 2 {
                num(out, y.rem_euclid(100), 2);
            } else {
                num(out, y, n);
            }
        }
        'M' | 'L' => {
            let m = t.month();
            if n >= 3 {
                text(out, MONTHS[(m - 1) as usize], n);
            } else {
                num(out, i64::from(m), n);
            }
        }
        'Q' | 'q' => {
            let q = (t.month() - 1) / 3 + 1;
            match n {
                1 | 2 => num(out, i64::from(q), n),
                3 => out.push_str(&format!("Q{q}")),
                4 => out.push_str(["1st", "2nd", "3rd", "4th"][(q - 1) as usize]),
                _ => out.push_str(&q.to_string()),
            }
            if n == 4 {
                out.push_str(" quarter");
            }
        }
        'd' => num(out, i64::from(t.day()), n),
        'D' => num(out, i64::from(t.ordinal()), n),
        'E' => text(out, DAYS[t.weekday().num_days_from_monday() as usize], n),
        'H' => num(out, i64::from(t.hour()), n),
        'k' => num(out, i64::from(if t.hour() == 0 { 24 } else { t.hour() }), n),
        'K' => num(out, i64::from(t.hour() % 12), n),
        'h' => {
            let h = t.hour() % 12;
            num(out, i64::from(if h == 0 { 12 } else { h }), n)
        }
        'm' => num(out, i64::from(t.minute()), n),
        's' => num(out, i64::from(t.second()), n),
        'S' => {
            let nanos = format!("{:09}", t.nanosecond() % 1_000_000_000);
            out.push_str(&nanos[..n]);
        }
        'n' => num(out, i64::from(t.nanosecond() % 1_000_000_000), n),
        'N' => {
            let nod = i64::from(t.num_seconds_from_midnight()) * 1_000_000_000
                + i64::from(t.nanosecond() % 1_000_000_000);
            num(out, nod, n)
        }
        'A' => {
            let mod_ = i64::from(t.num_seconds_from_midnight()) * 1000
                + i64::from(t.nanosecond() % 1_000_000_000) / 1_000_000;
            num(out, mod_, n)
        }
        'a' => out.push_str(if t.hour() < 12 { "AM" } else { "PM" }),
        'G' => out.push_str(match n {
            4 => "Anno Domini",
            5 => "A",
            _ => "AD",
        }),
        'X' => out.push('Z'),
        'x' => out.push_str(match n {
            1 => "+00",
            2 | 4 => "+0000",
            _ => "+00:00",
        }),
        'Z' => out.push_str(match n {
            4 => "GMT",
            5 => "Z",
            _ => "+0000",
        }),
        'z' | 'V' => out.push_str("UTC"),
        'O' => out.push_str("GMT"),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2018, 8, 27, 10, 30, 5).unwrap()
    }

    fn eval(p: &PrefixTemplate, ty: Option<&str>) -> String {
        let keys = BTreeMap::new();
        p.evaluate(&PrefixContext {
            timestamp: at(),
            random_seed: 7,
            error_output_type: ty,
            partition_keys: &keys,
        })
        .unwrap()
    }

    #[test]
    fn default_prefix_is_hourly_path() {
        let (p, e) = PrefixTemplate::parse_pair(None, None).unwrap();
        assert_eq!(eval(&p, None), "2018/08/27/10/");
        assert_eq!(
            eval(&e, Some("processing-failed")),
            "processing-failed/2018/08/27/10/"
        );
    }

    #[test]
    fn static_prefix_is_concatenated() {
        let (p, e) = PrefixTemplate::parse_pair(Some("myFirehosePrefix"), None).unwrap();
        assert_eq!(eval(&p, None), "myFirehosePrefix2018/08/27/10/");
        assert_eq!(
            eval(&e, Some("processing-failed")),
            "myFirehosePrefixprocessing-failed/2018/08/27/10/"
        );
        let (p, _) = PrefixTemplate::parse_pair(Some("logs/"), None).unwrap();
        assert_eq!(eval(&p, None), "logs/2018/08/27/10/");
    }

    #[test]
    fn custom_prefix_with_quotes() {
        let (p, e) = PrefixTemplate::parse_pair(
            Some("myPrefix/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"),
            Some("myErrorPrefix/!{timestamp:'year='yyyy'/month='MM'/day='dd'/hour='HH}/!{firehose:error-output-type}"),
        )
        .unwrap();
        assert_eq!(
            eval(&p, None),
            "myPrefix/year=2018/month=08/day=27/hour=10/"
        );
        assert_eq!(
            eval(&e, Some("processing-failed")),
            "myErrorPrefix/year=2018/month=08/day=27/hour=10/processing-failed"
        );
    }

    #[test]
    fn random_string_is_11_chars_and_deterministic() {
        let (p, _) = PrefixTemplate::parse_pair(
            Some("r=!{firehose:random-string}/!{firehose:random-string}/"),
            Some("e/!{firehose:error-output-type}"),
        )
        .unwrap();
        let a = eval(&p, None);
        assert_eq!(a, eval(&p, None));
        let parts: Vec<&str> = a.trim_start_matches("r=").split('/').collect();
        assert_eq!(parts[0].len(), 11);
        assert_eq!(parts[1].len(), 11);
        assert_ne!(parts[0], parts[1]);
        // no timestamp expression: the default time part is appended
        assert!(a.ends_with("/2018/08/27/10/"), "{a}");
    }

    #[test]
    fn rule_violations_are_rejected() {
        let cases = [
            (Some("!{timestamp:yyyy}"), None, "cannot be null"),
            (
                Some("a/!{firehose:error-output-type}"),
                Some("e/!{firehose:error-output-type}"),
                "only be used in ErrorOutputPrefix",
            ),
            (
                Some("a/!{timestamp:yyyy}"),
                Some("e/!{timestamp:yyyy}"),
                "at least one instance",
            ),
            (Some("a/!{timestamp:yyyy"), Some("e/"), "not closed"),
            (
                Some("a/!{foo:bar}/"),
                Some("e/!{firehose:error-output-type}"),
                "unknown namespace",
            ),
            (
                Some("a/!{firehose:nope}/"),
                Some("e/!{firehose:error-output-type}"),
                "unknown firehose",
            ),
            (
                Some("a/!{timestamp:yyyy-bb}/"),
                Some("e/!{firehose:error-output-type}"),
                "Unknown pattern letter: b",
            ),
            (
                Some("a/!{timestamp:ddd}/"),
                Some("e/!{firehose:error-output-type}"),
                "Too many pattern letters: d",
            ),
        ];
        for (p, e, want) in cases {
            let err = PrefixTemplate::parse_pair(p, e).unwrap_err().to_string();
            assert!(err.contains(want), "{p:?} {e:?}: {err}");
        }
    }

    #[test]
    fn java_patterns() {
        let f = |p: &str| JavaDateFormat::parse(p).unwrap().format(at());
        assert_eq!(f("yyyy-MM-dd'T'HH:mm:ss"), "2018-08-27T10:30:05");
        assert_eq!(f("yy/M/d/H"), "18/8/27/10");
        assert_eq!(f("MMM MMMM EEE EEEE"), "Aug August Mon Monday");
        assert_eq!(f("D hh a"), "239 10 AM");
        assert_eq!(f("'it''s' ''"), "it's '");
        assert_eq!(f("[yyyy]"), "2018");
        assert_eq!(f("SSS"), "000");
    }

    #[test]
    fn suffix_format() {
        assert_eq!(
            object_suffix("s", 1, at(), "u-u", ".gz"),
            "s-1-2018-08-27-10-30-05-u-u.gz"
        );
    }
}
