//! Java `SimpleDateFormat` patterns, for CHAR_TO_TIMESTAMP and
//! TIMESTAMP_TO_CHAR and their DATE and TIME siblings.
//!
//! [`DateFormat::new`] reads a pattern into fields (`yyyy`, `MM`, `dd`,
//! `HH`, `mm`, `ss`, `SSS`, ...) and quoted or plain literals, then formats
//! or parses milliseconds since the epoch, in UTC (KDA's time zone).
//!
//! Letters: G y M L d D H k K h m s S E u a z Z X. Week-based letters
//! (Y w W F) are rejected by name. Parsing follows `DateFormat.parse`:
//! numbers take as many digits as are there, or exactly the field's width
//! when the next field follows with no literal between; text after the
//! last field is ignored; a missing field takes its value from
//! 1970-01-01 00:00:00.000. Unlike the lenient Java default, a field out of
//! range (month 13, 31 April) is an error, not a rollover. A two-digit
//! `yy` year reads as 1946–2045 (Java uses 80 years before "now"; Sluice
//! keeps results independent of the clock).

use chrono::{DateTime, Datelike, NaiveDate, Timelike};

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

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Field(char, usize),
    Literal(String),
}

/// A compiled `SimpleDateFormat` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateFormat {
    pattern: String,
    tokens: Vec<Token>,
}

fn is_numeric(letter: char, count: usize) -> bool {
    match letter {
        'M' | 'L' => count < 3,
        'y' | 'd' | 'D' | 'H' | 'k' | 'K' | 'h' | 'm' | 's' | 'S' | 'u' => true,
        _ => false,
    }
}

impl DateFormat {
    /// Reads a pattern such as `yyyy-MM-dd HH:mm:ss.SSS`.
    pub fn new(pattern: &str) -> Result<Self, String> {
        let bad = |m: String| format!("date format '{pattern}': {m}");
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut literal = String::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                if chars.get(i + 1) == Some(&'\'') {
                    literal.push('\'');
                    i += 2;
                    continue;
                }
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(bad("a quote is not closed".into())),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            literal.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(&c) => {
                            literal.push(c);
                            i += 1;
                        }
                    }
                }
                continue;
            }
            if c.is_ascii_alphabetic() {
                let mut count = 1;
                while chars.get(i + count) == Some(&c) {
                    count += 1;
                }
                match c {
                    'G' | 'y' | 'M' | 'L' | 'd' | 'D' | 'H' | 'k' | 'K' | 'h' | 'm' | 's' | 'S'
                    | 'E' | 'u' | 'a' | 'z' | 'Z' | 'X' => {}
                    'Y' | 'w' | 'W' | 'F' => {
                        return Err(bad(format!("week-based letter '{c}' is not supported")));
                    }
                    other => return Err(bad(format!("illegal pattern character '{other}'"))),
                }
                if !literal.is_empty() {
                    tokens.push(Token::Literal(std::mem::take(&mut literal)));
                }
                tokens.push(Token::Field(c, count));
                i += count;
                continue;
            }
            literal.push(c);
            i += 1;
        }
        if !literal.is_empty() {
            tokens.push(Token::Literal(literal));
        }
        Ok(Self {
            pattern: pattern.to_string(),
            tokens,
        })
    }

    /// Formats milliseconds since the epoch (UTC).
    pub fn format(&self, ms: i64) -> Result<String, String> {
        let t = DateTime::from_timestamp_millis(ms)
            .ok_or_else(|| format!("{ms} ms is outside the supported range"))?
            .naive_utc();
        let mut out = String::new();
        let pad = |v: i64, n: usize| format!("{v:0n$}");
        for tok in &self.tokens {
            match tok {
                Token::Literal(s) => out.push_str(s),
                Token::Field(c, n) => {
                    let n = *n;
                    let text = match c {
                        'G' => if t.year() > 0 { "AD" } else { "BC" }.to_string(),
                        'y' if n == 2 => pad(i64::from(t.year()).rem_euclid(100), 2),
                        'y' => pad(i64::from(t.year()), n),
                        'M' | 'L' if n >= 4 => MONTHS[t.month0() as usize].to_string(),
                        'M' | 'L' if n == 3 => MONTHS[t.month0() as usize][..3].to_string(),
                        'M' | 'L' => pad(i64::from(t.month()), n),
                        'd' => pad(i64::from(t.day()), n),
                        'D' => pad(i64::from(t.ordinal()), n),
                        'H' => pad(i64::from(t.hour()), n),
                        'k' => pad(
                            if t.hour() == 0 {
                                24
                            } else {
                                i64::from(t.hour())
                            },
                            n,
                        ),
                        'K' => pad(i64::from(t.hour() % 12), n),
                        'h' => pad(
                            if t.hour() % 12 == 0 {
                                12
                            } else {
                                i64::from(t.hour() % 12)
                            },
                            n,
                        ),
                        'm' => pad(i64::from(t.minute()), n),
                        's' => pad(i64::from(t.second()), n),
                        'S' => pad(i64::from(t.nanosecond() / 1_000_000), n),
                        'E' => {
                            let d = DAYS[t.weekday().num_days_from_monday() as usize];
                            if n >= 4 {
                                d.to_string()
                            } else {
                                d[..3].to_string()
                            }
                        }
                        'u' => pad(i64::from(t.weekday().number_from_monday()), n),
                        'a' => if t.hour() < 12 { "AM" } else { "PM" }.to_string(),
                        'z' => if n >= 4 {
                            "Coordinated Universal Time"
                        } else {
                            "UTC"
                        }
                        .to_string(),
                        'Z' => "+0000".to_string(),
                        _ => "Z".to_string(),
                    };
                    out.push_str(&text);
                }
            }
        }
        Ok(out)
    }

    /// Parses text to milliseconds since the epoch (UTC).
    pub fn parse(&self, text: &str) -> Result<i64, String> {
        let fail =
            |what: String| format!("'{text}' does not match format '{}': {what}", self.pattern);
        let s: Vec<char> = text.chars().collect();
        let mut pos = 0;
        let (mut year, mut month, mut day) = (1970i64, 1i64, 1i64);
        let mut ordinal: Option<i64> = None;
        let (mut hour, mut minute, mut second, mut milli) = (0i64, 0i64, 0i64, 0i64);
        let mut hour12: Option<i64> = None;
        let mut pm: Option<bool> = None;
        let mut offset_minutes = 0i64;
        for (k, tok) in self.tokens.iter().enumerate() {
            match tok {
                Token::Literal(l) => {
                    for c in l.chars() {
                        if s.get(pos) != Some(&c) {
                            return Err(fail(format!("expected '{l}' at position {}", pos + 1)));
                        }
                        pos += 1;
                    }
                }
                Token::Field(c, n) => {
                    let (c, n) = (*c, *n);
                    if is_numeric(c, n) {
                        let abutting = matches!(self.tokens.get(k + 1),
                            Some(Token::Field(c2, n2)) if is_numeric(*c2, *n2));
                        let start = pos;
                        while pos < s.len()
                            && s[pos].is_ascii_digit()
                            && (!abutting || pos - start < n)
                        {
                            pos += 1;
                        }
                        if pos == start {
                            return Err(fail(format!(
                                "expected a number for '{}' at position {}",
                                c.to_string().repeat(n),
                                start + 1
                            )));
                        }
                        let digits: String = s[start..pos].iter().collect();
                        let v: i64 = digits
                            .parse()
                            .map_err(|_| fail(format!("number {digits} is too large")))?;
                        match c {
                            'y' if n <= 2 && pos - start == 2 => {
                                year = if v <= 45 { 2000 + v } else { 1900 + v };
                            }
                            'y' => year = v,
                            'M' | 'L' => month = v,
                            'd' => day = v,
                            'D' => ordinal = Some(v),
                            'H' => hour = v,
                            'k' => hour = if v == 24 { 0 } else { v },
                            'K' => hour12 = Some(v),
                            'h' => hour12 = Some(if v == 12 { 0 } else { v }),
                            'm' => minute = v,
                            's' => second = v,
                            'S' => milli = v,
                            _ => {} // 'u': the day of the week adds nothing
                        }
                        continue;
                    }
                    let rest: String = s[pos..].iter().collect();
                    let lower = rest.to_lowercase();
                    match c {
                        'M' | 'L' => {
                            let found = MONTHS.iter().enumerate().find_map(|(i, m)| {
                                let m = m.to_lowercase();
                                if lower.starts_with(&m) {
                                    Some((i, m.chars().count()))
                                } else if lower.starts_with(&m[..3]) {
                                    Some((i, 3))
                                } else {
                                    None
                                }
                            });
                            let Some((i, len)) = found else {
                                return Err(fail(format!(
                                    "expected a month name at position {}",
                                    pos + 1
                                )));
                            };
                            month = i as i64 + 1;
                            pos += len;
                        }
                        'E' => {
                            let found = DAYS.iter().find_map(|d| {
                                let d = d.to_lowercase();
                                if lower.starts_with(&d) {
                                    Some(d.chars().count())
                                } else if lower.starts_with(&d[..3]) {
                                    Some(3)
                                } else {
                                    None
                                }
                            });
                            let Some(len) = found else {
                                return Err(fail(format!(
                                    "expected a day name at position {}",
                                    pos + 1
                                )));
                            };
                            pos += len;
                        }
                        'G' => {
                            if lower.starts_with("ad") || lower.starts_with("bc") {
                                pos += 2;
                            } else {
                                return Err(fail(format!(
                                    "expected AD or BC at position {}",
                                    pos + 1
                                )));
                            }
                        }
                        'a' => {
                            if lower.starts_with("am") {
                                pm = Some(false);
                            } else if lower.starts_with("pm") {
                                pm = Some(true);
                            } else {
                                return Err(fail(format!(
                                    "expected AM or PM at position {}",
                                    pos + 1
                                )));
                            }
                            pos += 2;
                        }
                        _ => {
                            // z, Z, X: a zone name or an offset.
                            let (minutes, len) = parse_zone(&rest).ok_or_else(|| {
                                fail(format!("expected a time zone at position {}", pos + 1))
                            })?;
                            offset_minutes = minutes;
                            pos += len;
                        }
                    }
                }
            }
        }
        if let Some(h) = hour12 {
            if !(0..12).contains(&h) {
                return Err(fail(format!("hour {h} is out of range")));
            }
            hour = h + if pm == Some(true) { 12 } else { 0 };
        } else if pm == Some(true) && hour < 12 {
            hour += 12;
        }
        let out_of_range = |what: &str, v: i64| fail(format!("{what} {v} is out of range"));
        let year_i32 = i32::try_from(year).map_err(|_| out_of_range("year", year))?;
        let date = match ordinal {
            Some(d) => NaiveDate::from_yo_opt(year_i32, u32::try_from(d).unwrap_or(0))
                .ok_or_else(|| out_of_range("day of year", d))?,
            None => {
                if !(1..=12).contains(&month) {
                    return Err(out_of_range("month", month));
                }
                NaiveDate::from_ymd_opt(year_i32, month as u32, u32::try_from(day).unwrap_or(0))
                    .ok_or_else(|| out_of_range("day", day))?
            }
        };
        if !(0..24).contains(&hour) {
            return Err(out_of_range("hour", hour));
        }
        if !(0..60).contains(&minute) {
            return Err(out_of_range("minute", minute));
        }
        if !(0..60).contains(&second) {
            return Err(out_of_range("second", second));
        }
        if !(0..1000).contains(&milli) {
            return Err(out_of_range("millisecond", milli));
        }
        let days = i64::from(date.num_days_from_ce()) - 719_163;
        Ok(
            days * 86_400_000 + ((hour * 60 + minute) * 60 + second) * 1000 + milli
                - offset_minutes * 60_000,
        )
    }
}

/// A zone at the start of `s`: `Z`, `UTC`, `GMT`, or an offset `±hh[:mm]`
/// (after UTC/GMT too). Returns the offset in minutes and the length read.
fn parse_zone(s: &str) -> Option<(i64, usize)> {
    let mut len = 0;
    let mut rest = s;
    for name in ["UTC", "GMT"] {
        if rest.starts_with(name) {
            len += 3;
            rest = &rest[3..];
            break;
        }
    }
    if len == 0 && rest.starts_with('Z') {
        return Some((0, 1));
    }
    let sign = match rest.chars().next() {
        Some('+') => 1,
        Some('-') => -1,
        _ => return (len > 0).then_some((0, len)),
    };
    let b = rest.as_bytes();
    let digit = |i: usize| {
        b.get(i)
            .filter(|c| c.is_ascii_digit())
            .map(|c| i64::from(c - b'0'))
    };
    let hours = digit(1)? * 10 + digit(2)?;
    let (minutes, used) = match (b.get(3), digit(3), digit(4)) {
        (Some(b':'), _, _) => (digit(4)? * 10 + digit(5)?, 6),
        (_, Some(m1), Some(m2)) => (m1 * 10 + m2, 5),
        _ => (0, 3),
    };
    Some((sign * (hours * 60 + minutes), len + used))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(f: &str, s: &str) -> i64 {
        DateFormat::new(f).unwrap().parse(s).unwrap()
    }

    #[test]
    fn parses_the_common_patterns() {
        // 2004-09-30 13:48:23.123 UTC
        let t = 1_096_552_103_123;
        assert_eq!(ms("yyyy-MM-dd HH:mm:ss.SSS", "2004-09-30 13:48:23.123"), t);
        assert_eq!(
            ms("yyyy-MM-dd'T'HH:mm:ss.SSSX", "2004-09-30T13:48:23.123Z"),
            t
        );
        assert_eq!(
            ms("yyyy-MM-dd'T'HH:mm:ss.SSSZ", "2004-09-30T15:48:23.123+0200"),
            t
        );
        assert_eq!(
            ms("dd/MMM/yyyy:HH:mm:ss.SSS", "30/Sep/2004:13:48:23.123"),
            t
        );
        assert_eq!(ms("yyyyMMddHHmmssSSS", "20040930134823123"), t);
        assert_eq!(
            ms(
                "EEE, d MMMM yyyy h:mm:ss.SSS a",
                "Thu, 30 September 2004 1:48:23.123 PM"
            ),
            t
        );
        assert_eq!(ms("yy-M-d", "04-9-30"), 1_096_502_400_000);
        assert_eq!(ms("yyyy", "1970"), 0);
        // Text after the last field is ignored, as DateFormat.parse does.
        assert_eq!(ms("yyyy-MM-dd", "1970-01-02 junk"), 86_400_000);
    }

    #[test]
    fn parse_errors_say_where() {
        let f = DateFormat::new("yyyy-MM-dd").unwrap();
        let e = f.parse("2004/09/30").unwrap_err();
        assert!(e.contains("expected '-' at position 5"), "{e}");
        let e = f.parse("2004-13-01").unwrap_err();
        assert!(e.contains("month 13 is out of range"), "{e}");
        let e = f.parse("2004-04-31").unwrap_err();
        assert!(e.contains("day 31 is out of range"), "{e}");
        let e = DateFormat::new("YYYY-ww").unwrap_err();
        assert!(e.contains("week-based letter 'Y'"), "{e}");
        let e = DateFormat::new("yyyy-qq").unwrap_err();
        assert!(e.contains("illegal pattern character 'q'"), "{e}");
    }

    #[test]
    fn formats_like_simple_date_format() {
        let t = 1_096_552_103_007;
        let f = |p: &str| DateFormat::new(p).unwrap().format(t).unwrap();
        assert_eq!(f("yyyy-MM-dd HH:mm:ss.SSS"), "2004-09-30 13:48:23.007");
        assert_eq!(f("yy/M/d h:m:s a"), "04/9/30 1:48:23 PM");
        assert_eq!(f("EEEE, MMMM d, yyyy"), "Thursday, September 30, 2004");
        assert_eq!(f("EEE MMM dd 'at' HH'h' ''yy"), "Thu Sep 30 at 13h '04");
        assert_eq!(f("D u z Z"), "274 4 UTC +0000");
    }
}
