//! A one-pass reader of JSON objects of scalars and nested objects: the
//! input decoder's fast path.
//!
//! Most records are one object of scalars (`{"ticker":"AMZN","price":12.5}`),
//! or of scalars and objects of scalars
//! (`{"event_type":2,"bid":{"auction":7,"price":12}}`). [`scan`] reads such
//! a record byte by byte, handing each member's path of keys and value to a
//! callback without building anything, and answers `None` for whatever it
//! does not read itself: an array, a string or key with escapes, an integer
//! beyond `i64`, objects nested deeper than [`MAX_DEPTH`], anything that is
//! not valid JSON. The decoder then reads that record with serde_json as
//! before, so values and error texts stay exactly serde_json's; this reader
//! only has to be right on what it accepts.
//!
//! What it accepts is exactly JSON (RFC 8259) restricted so: whitespace is
//! space, tab, CR and LF; strings hold no escapes and no control
//! characters and are UTF-8; numbers follow JSON's grammar
//! (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`); nothing but
//! whitespace follows the object.

/// Objects nested deeper than this (the record itself is depth 1) are
/// left to serde_json.
pub(crate) const MAX_DEPTH: usize = 8;

/// A member's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum FlatValue<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer literal that fits `i64`.
    Int(i64),
    /// A number with a fraction or an exponent: its text.
    Float(&'a str),
    /// A string without escapes: its contents.
    Str(&'a str),
}

/// What a member holds, as [`scan`] reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Member<'a> {
    /// A scalar.
    Scalar(FlatValue<'a>),
    /// An object: reported before its own members, whose paths continue
    /// this one.
    Object,
}

/// Reads `data` as one JSON object, calling `member(path, value)` for each
/// member in document order, nested objects' members included (`path`:
/// the keys from the record down to the member). `None`: not a record this
/// reader takes (see the module docs), or `member` answered `None`.
pub(crate) fn scan<'a>(
    data: &'a [u8],
    mut member: impl FnMut(&[&'a str], Member<'a>) -> Option<()>,
) -> Option<()> {
    let b = data;
    let i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    let mut path = [""; MAX_DEPTH];
    let end = object(b, i, &mut path, 0, &mut member)?;
    (skip_ws(b, end) == b.len()).then_some(())
}

/// The object at `b[i]` (a `{`) whose members' keys go at `path[depth]`:
/// reports its members, and answers the index after its `}`.
fn object<'a, F>(
    b: &'a [u8],
    mut i: usize,
    path: &mut [&'a str; MAX_DEPTH],
    depth: usize,
    member: &mut F,
) -> Option<usize>
where
    F: FnMut(&[&'a str], Member<'a>) -> Option<()>,
{
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return Some(i + 1);
    }
    loop {
        let (key, next) = string(b, i)?;
        i = skip_ws(b, next);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        *path.get_mut(depth)? = key;
        let (value, next) = match *b.get(i)? {
            b'{' => {
                member(&path[..=depth], Member::Object)?;
                i = object(b, i, path, depth + 1, member)?;
                (None, i)
            }
            b'"' => {
                let (s, next) = string(b, i)?;
                (Some(FlatValue::Str(s)), next)
            }
            b't' => (Some(FlatValue::Bool(true)), literal(b, i, b"true")?),
            b'f' => (Some(FlatValue::Bool(false)), literal(b, i, b"false")?),
            b'n' => (Some(FlatValue::Null), literal(b, i, b"null")?),
            b'-' | b'0'..=b'9' => {
                let (v, next) = number(b, i)?;
                (Some(v), next)
            }
            _ => return None,
        };
        if let Some(v) = value {
            member(&path[..=depth], Member::Scalar(v))?;
        }
        i = skip_ws(b, next);
        match *b.get(i)? {
            b',' => i = skip_ws(b, i + 1),
            b'}' => return Some(i + 1),
            _ => return None,
        }
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// `b[i..]` starts with `word`: the index after it.
fn literal(b: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    b.get(i..i + word.len())
        .is_some_and(|w| w == word)
        .then_some(i + word.len())
}

/// The string at `b[i]` (a `"`): its contents and the index after it.
fn string(b: &[u8], i: usize) -> Option<(&str, usize)> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let start = i + 1;
    let mut j = start;
    loop {
        match *b.get(j)? {
            b'"' => break,
            b'\\' => return None,
            c if c < 0x20 => return None,
            _ => j += 1,
        }
    }
    let s = std::str::from_utf8(&b[start..j]).ok()?;
    Some((s, j + 1))
}

/// The number at `b[i]`: an [`FlatValue::Int`] or [`FlatValue::Float`],
/// and the index after it.
fn number(b: &[u8], i: usize) -> Option<(FlatValue<'_>, usize)> {
    let mut j = i;
    let negative = b.get(j) == Some(&b'-');
    if negative {
        j += 1;
    }
    let digits = j;
    while let Some(b'0'..=b'9') = b.get(j) {
        j += 1;
    }
    let int_len = j - digits;
    if int_len == 0 || (int_len > 1 && b[digits] == b'0') {
        return None;
    }
    // Accumulate negatively: i64::MIN has no positive counterpart. Up to
    // 18 digits cannot overflow.
    let mut acc: i64 = 0;
    let mut fits = true;
    if int_len <= 18 {
        for &c in &b[digits..j] {
            acc = acc * 10 - i64::from(c - b'0');
        }
    } else {
        for &c in &b[digits..j] {
            match acc
                .checked_mul(10)
                .and_then(|a| a.checked_sub(i64::from(c - b'0')))
            {
                Some(a) => acc = a,
                None => {
                    fits = false;
                    break;
                }
            }
        }
    }
    let mut float = false;
    if b.get(j) == Some(&b'.') {
        float = true;
        j += 1;
        let f = j;
        while let Some(b'0'..=b'9') = b.get(j) {
            j += 1;
        }
        if j == f {
            return None;
        }
    }
    if let Some(b'e' | b'E') = b.get(j) {
        float = true;
        j += 1;
        if let Some(b'+' | b'-') = b.get(j) {
            j += 1;
        }
        let e = j;
        while let Some(b'0'..=b'9') = b.get(j) {
            j += 1;
        }
        if j == e {
            return None;
        }
    }
    if float {
        let text = std::str::from_utf8(&b[i..j]).ok()?;
        return Some((FlatValue::Float(text), j));
    }
    if !fits {
        return None;
    }
    let value = if negative { acc } else { acc.checked_neg()? };
    Some((FlatValue::Int(value), j))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scalar members of a flat record, keyed by their one key.
    fn members(s: &str) -> Option<Vec<(String, FlatValue<'_>)>> {
        let mut out = Vec::new();
        scan(s.as_bytes(), |path, m| {
            match m {
                Member::Scalar(v) if path.len() == 1 => out.push((path[0].to_string(), v)),
                _ => return None,
            }
            Some(())
        })?;
        Some(out)
    }

    /// Every member of a record: its dotted path and what it holds.
    fn paths(s: &str) -> Option<Vec<(String, Member<'_>)>> {
        let mut out = Vec::new();
        scan(s.as_bytes(), |path, m| {
            out.push((path.join("."), m));
            Some(())
        })?;
        Some(out)
    }

    #[test]
    fn nested_objects_are_read_member_by_member() {
        let m = paths(r#"{"t":1, "bid" : {"auction":7,"price":{"v":1.5},"e":{}}, "x":null}"#)
            .expect("nested");
        let want = [
            ("t", Member::Scalar(FlatValue::Int(1))),
            ("bid", Member::Object),
            ("bid.auction", Member::Scalar(FlatValue::Int(7))),
            ("bid.price", Member::Object),
            ("bid.price.v", Member::Scalar(FlatValue::Float("1.5"))),
            ("bid.e", Member::Object),
            ("x", Member::Scalar(FlatValue::Null)),
        ];
        assert_eq!(m.len(), want.len());
        for ((path, m), (wp, wm)) in m.iter().zip(want) {
            assert_eq!((path.as_str(), *m), (wp, wm));
        }
        // Depth: the record is 1, so MAX_DEPTH - 1 objects nest in it.
        let deep = |n: usize| format!("{}1{}", r#"{"a":"#.repeat(n), "}".repeat(n));
        assert!(paths(&deep(MAX_DEPTH)).is_some());
        assert!(paths(&deep(MAX_DEPTH + 1)).is_none());
        for s in [
            r#"{"a":{"b":1}"#,
            r#"{"a":{"b":1},}"#,
            r#"{"a":{"b" 1}}"#,
            r#"{"a":{1:2}}"#,
        ] {
            assert!(paths(s).is_none(), "{s:?}");
        }
    }

    #[test]
    fn flat_objects_are_read_member_by_member() {
        let m = members(
            " {\"id\" : 12, \"p\":-1.5e3,\"s\":\"AMZN\",\n\"t\":true,\"f\":false,\"n\":null} ",
        )
        .expect("flat");
        assert_eq!(m.len(), 6);
        assert_eq!((m[0].0.as_str(), m[0].1), ("id", FlatValue::Int(12)));
        assert_eq!(m[1].1, FlatValue::Float("-1.5e3"));
        assert_eq!(m[2].1, FlatValue::Str("AMZN"));
        assert_eq!(m[3].1, FlatValue::Bool(true));
        assert_eq!(m[4].1, FlatValue::Bool(false));
        assert_eq!(m[5].1, FlatValue::Null);
        assert_eq!(members("{}"), Some(vec![]));
        assert_eq!(
            members("{\"k\":\"é—\"}").expect("utf8")[0].1,
            FlatValue::Str("é—")
        );
    }

    #[test]
    fn integers_to_the_edges_of_i64() {
        let m = members("{\"a\":-9223372036854775808,\"b\":9223372036854775807,\"c\":-0}")
            .expect("fits");
        assert_eq!(m[0].1, FlatValue::Int(i64::MIN));
        assert_eq!(m[1].1, FlatValue::Int(i64::MAX));
        assert_eq!(m[2].1, FlatValue::Int(0));
        assert!(members("{\"a\":9223372036854775808}").is_none());
        assert!(members("{\"a\":-9223372036854775809}").is_none());
    }

    #[test]
    fn anything_else_is_left_to_serde_json() {
        for s in [
            "",
            "[]",
            "{\"a\":[1]}",
            "{\"a\\n\":1}",
            "{\"a\":\"x\\ty\"}",
            "{\"a\":\"tab\there\"}",
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":.5}",
            "{\"a\":1e}",
            "{\"a\":+1}",
            "{\"a\":tru}",
            "{\"a\":1,}",
            "{\"a\":1} x",
            "{\"a\" 1}",
            "{a:1}",
            "{\"a\":1",
            "{\"a\":NaN}",
        ] {
            assert!(members(s).is_none(), "{s:?}");
        }
        // Invalid UTF-8 in a string.
        assert!(scan(b"{\"a\":\"\xff\"}", |_, _| Some(())).is_none());
        assert!(scan(b"{\"a\":{\"b\":[1]}}", |_, _| Some(())).is_none());
        // The callback can refuse a record.
        assert!(scan(b"{\"a\":1}", |_, _| None).is_none());
    }

    #[test]
    fn whatever_it_accepts_serde_json_reads_the_same() {
        for s in [
            "{\"id\":1,\"k\":2,\"v\":3}",
            "{\"x\":-0.25,\"y\":1E+2,\"z\":\"q\"}",
            "{\"n\":null,\"b\":true}",
        ] {
            let v: serde_json::Value = serde_json::from_str(s).expect("json");
            let m = members(s).expect("flat");
            for (k, fv) in m {
                let expect = &v[k.as_str()];
                match fv {
                    FlatValue::Null => assert!(expect.is_null()),
                    FlatValue::Bool(b) => assert_eq!(expect.as_bool(), Some(b)),
                    FlatValue::Int(i) => assert_eq!(expect.as_i64(), Some(i)),
                    FlatValue::Float(t) => {
                        assert_eq!(serde_json::from_str::<f64>(t).ok(), expect.as_f64())
                    }
                    FlatValue::Str(s) => assert_eq!(expect.as_str(), Some(s)),
                }
            }
        }
    }
}
