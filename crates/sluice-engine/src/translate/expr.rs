//! DataFusion physical expressions (what the planner makes of a pump's
//! KDA expressions) as Flink SQL text, and SQL types as Flink types.
//!
//! Each node is translated by downcasting; each function by its name in
//! the KDA → Flink function table ([`function`]). A node, type or function
//! with no faithful Flink equivalent is an error naming it (the caller
//! makes it a refusal at the pump's line).

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::expressions::{
    BinaryExpr, CaseExpr, CastExpr, Column, InListExpr, IsNotNullExpr, IsNullExpr, LikeExpr,
    Literal, NegativeExpr, NotExpr, TryCastExpr,
};
use datafusion::physical_expr::{PhysicalExpr, ScalarFunctionExpr};

use crate::types::SqlType;

/// Why an expression cannot be translated: the construct, as a phrase.
pub(super) type Untranslatable = String;

/// `name` as a Flink identifier (backquoted).
pub(super) fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `s` as a Flink string literal.
pub(super) fn string_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The Flink type a stream column of KDA type `t` has. CHAR(n) is
/// VARCHAR(n): Sluice, as KDA, keeps a CHAR column's value unpadded.
pub(super) fn sql_type(t: SqlType) -> String {
    match t {
        SqlType::Boolean => "BOOLEAN".into(),
        SqlType::TinyInt => "TINYINT".into(),
        SqlType::SmallInt => "SMALLINT".into(),
        SqlType::Integer => "INT".into(),
        SqlType::BigInt => "BIGINT".into(),
        SqlType::Real => "FLOAT".into(),
        SqlType::Double => "DOUBLE".into(),
        SqlType::Decimal(p, s) => format!("DECIMAL({p}, {s})"),
        SqlType::Char(n) | SqlType::Varchar(n) if n == u32::MAX => "STRING".into(),
        SqlType::Char(n) | SqlType::Varchar(n) => format!("VARCHAR({n})"),
        SqlType::Varbinary(n) if n == u32::MAX => "BYTES".into(),
        SqlType::Varbinary(n) => format!("VARBINARY({n})"),
        SqlType::Date => "DATE".into(),
        SqlType::Time => "TIME(3)".into(),
        SqlType::Timestamp => "TIMESTAMP(3)".into(),
    }
}

/// The Flink type of Arrow type `t`, as expressions compute it.
pub(super) fn arrow_type(t: &DataType) -> Result<String, Untranslatable> {
    Ok(match t {
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 => "TINYINT".into(),
        DataType::Int16 => "SMALLINT".into(),
        DataType::Int32 => "INT".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::Float32 => "FLOAT".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Decimal128(p, s) => format!("DECIMAL({p}, {s})"),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "STRING".into(),
        DataType::Binary | DataType::LargeBinary => "BYTES".into(),
        DataType::Date32 => "DATE".into(),
        DataType::Time32(TimeUnit::Millisecond) => "TIME(3)".into(),
        DataType::Timestamp(TimeUnit::Millisecond, None) => "TIMESTAMP(3)".into(),
        other => return Err(format!("values of type {other}")),
    })
}

/// Writes expressions over one batch schema as Flink SQL.
pub(super) struct ExprWriter<'a> {
    /// The schema the expressions are over.
    pub schema: &'a Schema,
    /// What column `i` of the schema is called in the Flink query.
    pub column: &'a dyn Fn(usize) -> Result<String, Untranslatable>,
    /// Known small differences met so far (`-- note:` lines).
    pub notes: Vec<String>,
}

impl ExprWriter<'_> {
    fn note(&mut self, n: &str) {
        if !self.notes.iter().any(|x| x == n) {
            self.notes.push(n.to_string());
        }
    }

    fn data_type(&self, e: &Arc<dyn PhysicalExpr>) -> Result<DataType, Untranslatable> {
        e.data_type(self.schema)
            .map_err(|err| format!("expression {e}: {err}"))
    }

    /// `e` as Flink SQL.
    pub fn expr(&mut self, e: &Arc<dyn PhysicalExpr>) -> Result<String, Untranslatable> {
        let any: &dyn PhysicalExpr = e.as_ref();
        // A constant (KDA functions of literals included) is its value.
        if any.downcast_ref::<Literal>().is_none()
            && let Some(v) = constant(e)
            && let Ok(text) = literal(&v)
        {
            return Ok(text);
        }
        if let Some(c) = any.downcast_ref::<Column>() {
            return (self.column)(c.index());
        }
        if let Some(l) = any.downcast_ref::<Literal>() {
            return literal(l.value());
        }
        if let Some(b) = any.downcast_ref::<BinaryExpr>() {
            return self.binary(b);
        }
        if let Some(c) = any.downcast_ref::<CastExpr>() {
            return self.cast(c.expr(), c.cast_type());
        }
        if let Some(c) = any.downcast_ref::<TryCastExpr>() {
            return self.cast(c.expr(), c.cast_type());
        }
        if let Some(n) = any.downcast_ref::<IsNullExpr>() {
            return Ok(format!("({} IS NULL)", self.expr(n.arg())?));
        }
        if let Some(n) = any.downcast_ref::<IsNotNullExpr>() {
            return Ok(format!("({} IS NOT NULL)", self.expr(n.arg())?));
        }
        if let Some(n) = any.downcast_ref::<NotExpr>() {
            return Ok(format!("(NOT {})", self.expr(n.arg())?));
        }
        if let Some(n) = any.downcast_ref::<NegativeExpr>() {
            return Ok(format!("(-{})", self.expr(n.arg())?));
        }
        if let Some(c) = any.downcast_ref::<CaseExpr>() {
            let mut s = String::from("CASE");
            if let Some(base) = c.expr() {
                s.push(' ');
                s.push_str(&self.expr(base)?);
            }
            for (when, then) in c.when_then_expr() {
                s.push_str(&format!(
                    " WHEN {} THEN {}",
                    self.expr(when)?,
                    self.expr(then)?
                ));
            }
            if let Some(e) = c.else_expr() {
                s.push_str(&format!(" ELSE {}", self.expr(e)?));
            }
            s.push_str(" END");
            return Ok(s);
        }
        if let Some(i) = any.downcast_ref::<InListExpr>() {
            let list = i
                .list()
                .iter()
                .map(|x| self.expr(x))
                .collect::<Result<Vec<_>, _>>()?;
            let not = if i.negated() { "NOT " } else { "" };
            return Ok(format!(
                "({} {not}IN ({}))",
                self.expr(i.expr())?,
                list.join(", ")
            ));
        }
        if let Some(l) = any.downcast_ref::<LikeExpr>() {
            if l.case_insensitive() {
                return Err("ILIKE (case-insensitive LIKE)".into());
            }
            let not = if l.negated() { "NOT " } else { "" };
            return Ok(format!(
                "({} {not}LIKE {})",
                self.expr(l.expr())?,
                self.expr(l.pattern())?
            ));
        }
        if let Some(f) = any.downcast_ref::<ScalarFunctionExpr>() {
            return self.function(f);
        }
        Err(format!("expression {e}"))
    }

    fn cast(
        &mut self,
        inner: &Arc<dyn PhysicalExpr>,
        to: &DataType,
    ) -> Result<String, Untranslatable> {
        let from = self.data_type(inner)?;
        if let Some(l) = inner.downcast_ref::<Literal>()
            && let Ok(v) = l.value().cast_to(to)
            && !v.is_null()
            && (from.is_numeric() || from == *to)
        {
            return literal(&v);
        }
        let text = self.expr(inner)?;
        if &from == to {
            return Ok(text);
        }
        if matches!(from, DataType::Timestamp(_, None))
            && matches!(to, DataType::Timestamp(_, None))
        {
            // Sluice's timestamps are whole milliseconds: a finer unit changes nothing.
            return Ok(text);
        }
        let numeric = |t: &DataType| t.is_numeric();
        let stringy =
            |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
        let ok = (numeric(&from) && numeric(to))
            || (stringy(&from) && stringy(to))
            || (from == DataType::Null)
            || (numeric(&from) && stringy(to) && !from.is_floating())
            || (stringy(&from) && numeric(to) && !to.is_floating())
            || (matches!(from, DataType::Date32) && matches!(to, DataType::Timestamp(..)));
        if !ok {
            return Err(format!("CAST from {from} to {to}"));
        }
        if numeric(&from) && numeric(to) && from.is_floating() && !to.is_floating() {
            self.note("CAST of a floating-point value to an exact type: KDA and Flink both truncate toward zero only where the value fits; an overflow is an error_stream row in KDA and a failed job in Flink");
        }
        Ok(format!("CAST({text} AS {})", arrow_type(to)?))
    }

    fn binary(&mut self, b: &BinaryExpr) -> Result<String, Untranslatable> {
        let lt = self.data_type(b.left())?;
        let rt = self.data_type(b.right())?;
        let l = self.expr(b.left())?;
        let r = self.expr(b.right())?;
        let interval = |t: &DataType| matches!(t, DataType::Interval(_) | DataType::Duration(_));
        let time = |t: &DataType| matches!(t, DataType::Timestamp(..) | DataType::Date32);
        let op = match b.op() {
            Operator::Eq => "=",
            Operator::NotEq => "<>",
            Operator::Lt => "<",
            Operator::LtEq => "<=",
            Operator::Gt => ">",
            Operator::GtEq => ">=",
            Operator::And => "AND",
            Operator::Or => "OR",
            Operator::StringConcat => "||",
            Operator::IsDistinctFrom => "IS DISTINCT FROM",
            Operator::IsNotDistinctFrom => "IS NOT DISTINCT FROM",
            Operator::Plus | Operator::Minus | Operator::Multiply => {
                if time(&lt) && time(&rt) {
                    return Err("the difference of two timestamps (an INTERVAL)".into());
                }
                if (interval(&lt) || interval(&rt)) && !(time(&lt) || time(&rt)) {
                    return Err("INTERVAL arithmetic".into());
                }
                match b.op() {
                    Operator::Plus => "+",
                    Operator::Minus => "-",
                    _ => "*",
                }
            }
            Operator::Divide => {
                if !(lt.is_numeric() && rt.is_numeric()) {
                    return Err(format!("division of {lt} by {rt}"));
                }
                self.note("division by zero: an error_stream row in KDA, a failed job in Flink");
                let out = b
                    .data_type(self.schema)
                    .map_err(|err| format!("division: {err}"))?;
                if out.is_integer() {
                    // Integer division truncates in KDA; the cast keeps that
                    // whatever type Flink gives the quotient.
                    return Ok(format!("CAST({l} / {r} AS {})", arrow_type(&out)?));
                }
                return Ok(format!("({l} / {r})"));
            }
            // The planner's SIMILAR TO: an anchored regular expression of
            // `.`, `.*`, classes, groups and quantifiers, read the same by
            // Java's regex (Flink's REGEXP).
            Operator::RegexMatch | Operator::RegexNotMatch
                if b.right().downcast_ref::<Literal>().is_some() =>
            {
                let not = if matches!(b.op(), Operator::RegexNotMatch) {
                    "NOT "
                } else {
                    ""
                };
                return Ok(format!("({not}REGEXP({l}, {r}))"));
            }
            Operator::Modulo => {
                if !(lt.is_integer() && rt.is_integer()) {
                    return Err(format!("MOD of {lt} and {rt}"));
                }
                return Ok(format!("MOD({l}, {r})"));
            }
            other => return Err(format!("operator {other}")),
        };
        Ok(format!("({l} {op} {r})"))
    }

    fn args(&mut self, f: &ScalarFunctionExpr) -> Result<Vec<String>, Untranslatable> {
        f.args().iter().map(|a| self.expr(a)).collect()
    }

    fn function(&mut self, f: &ScalarFunctionExpr) -> Result<String, Untranslatable> {
        let name = f.name().to_ascii_lowercase();
        let refuse = || format!("function {}", name.to_uppercase());
        let lit = |i: usize| -> Option<ScalarValue> { f.args().get(i).and_then(constant) };
        match name.as_str() {
            // FLOOR(ts TO unit).
            "date_trunc" => {
                let Some(ScalarValue::Utf8(Some(unit))) = lit(0) else {
                    return Err(refuse());
                };
                let unit = unit.to_ascii_uppercase();
                if !["SECOND", "MINUTE", "HOUR", "DAY", "MONTH", "YEAR"].contains(&unit.as_str()) {
                    return Err(format!("FLOOR(.. TO {unit})"));
                }
                let [_, ts] = f.args() else {
                    return Err(refuse());
                };
                return Ok(format!("FLOOR({} TO {unit})", self.expr(ts)?));
            }
            // STEP(ts BY INTERVAL ..): windows aligned on the epoch.
            "date_bin" => {
                let [_, ts, _] = f.args() else {
                    return Err(refuse());
                };
                let origin_is_epoch = matches!(
                    lit(2).map(|v| v.cast_to(&DataType::Int64)),
                    Some(Ok(ScalarValue::Int64(Some(0))))
                );
                let size = match lit(0) {
                    Some(ScalarValue::IntervalMonthDayNano(Some(iv))) if iv.months == 0 => {
                        i64::from(iv.days) * 86_400_000 + iv.nanoseconds / 1_000_000
                    }
                    Some(ScalarValue::IntervalDayTime(Some(iv))) => {
                        i64::from(iv.days) * 86_400_000 + i64::from(iv.milliseconds)
                    }
                    _ => 0,
                };
                if !origin_is_epoch || size <= 0 {
                    return Err("STEP with a month or year interval, or another origin".into());
                }
                let ts = self.expr(ts)?;
                for (unit, ms) in [
                    ("DAY", 86_400_000),
                    ("HOUR", 3_600_000),
                    ("MINUTE", 60_000),
                    ("SECOND", 1000),
                ] {
                    if size == ms {
                        return Ok(format!("FLOOR({ts} TO {unit})"));
                    }
                }
                if size % 1000 != 0 {
                    return Err("STEP by a fraction of a second".into());
                }
                self.note("STEP by a number of seconds: binned through TIMESTAMPDIFF(SECOND, ..), exact for times from 1970 to 2038");
                let epoch = "TIMESTAMP '1970-01-01 00:00:00'";
                let n = size / 1000;
                return Ok(format!(
                    "TIMESTAMPADD(SECOND, TIMESTAMPDIFF(SECOND, {epoch}, {ts}) / {n} * {n}, {epoch})"
                ));
            }
            // KDA's CAST of a number to an integer rounds half away from
            // zero (the CAST around it then drops nothing); so does ROUND.
            "kda_cast_round" => {
                let [x] = f.args() else {
                    return Err(refuse());
                };
                let t = self.data_type(x)?;
                let x = self.expr(x)?;
                return Ok(if t.is_integer() {
                    x
                } else {
                    format!("ROUND({x}, 0)")
                });
            }
            // CAST(x AS VARCHAR(n)): the same text for strings and integers.
            "kda_varchar" => {
                let Some(x) = f.args().first() else {
                    return Err(refuse());
                };
                let t = self.data_type(x)?;
                let stringy =
                    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
                if !(stringy || t.is_integer()) {
                    return Err(format!("CAST of a {t} value to VARCHAR (KDA's text of it)"));
                }
                let x = self.expr(x)?;
                return Ok(match lit(1).map(|v| v.cast_to(&DataType::Int64)) {
                    Some(Ok(ScalarValue::Int64(Some(n)))) => format!("CAST({x} AS VARCHAR({n}))"),
                    None => format!("CAST({x} AS STRING)"),
                    _ => return Err(refuse()),
                });
            }
            // CAST(s AS TIMESTAMP).
            "kda_string_to_timestamp" => {
                let [x] = f.args() else {
                    return Err(refuse());
                };
                self.note("CAST of a string to TIMESTAMP: the same for 'yyyy-MM-dd HH:mm:ss[.fff]' text; other forms KDA accepts may fail in Flink");
                return Ok(format!("CAST({} AS TIMESTAMP(3))", self.expr(x)?));
            }
            // TRIM(s): spaces from both ends.
            "btrim" => {
                let [x] = f.args() else {
                    return Err("TRIM of characters other than spaces".into());
                };
                return Ok(format!("TRIM(BOTH ' ' FROM {})", self.expr(x)?));
            }
            _ => {}
        }
        let Some(flink) = function(&name) else {
            return Err(format!("function {}", name.to_uppercase()));
        };
        let args = self.args(f)?;
        Ok(match flink {
            Mapped::Same(n) => format!("{n}({})", args.join(", ")),
            Mapped::Identity => match args.as_slice() {
                [a] => a.clone(),
                _ => return Err(format!("function {}", name.to_uppercase())),
            },
        })
    }
}

/// The value of `e` when it reads no column and no clock: evaluated
/// once, here, as KDA would for every row.
fn constant(e: &Arc<dyn PhysicalExpr>) -> Option<ScalarValue> {
    fn reads_nothing(e: &Arc<dyn PhysicalExpr>) -> bool {
        if e.downcast_ref::<Column>().is_some() {
            return false;
        }
        if let Some(f) = e.downcast_ref::<ScalarFunctionExpr>() {
            let n = f.name().to_ascii_lowercase();
            if n.contains("current")
                || n.contains("now")
                || n.contains("local")
                || n.contains("random")
            {
                return false;
            }
        }
        e.children().iter().all(|c| reads_nothing(c))
    }
    if let Some(l) = e.downcast_ref::<Literal>() {
        return Some(l.value().clone());
    }
    if !reads_nothing(e) {
        return None;
    }
    let schema = Arc::new(Schema::empty());
    let batch = datafusion::arrow::array::RecordBatch::try_new_with_options(
        schema,
        vec![],
        &datafusion::arrow::array::RecordBatchOptions::new().with_row_count(Some(1)),
    )
    .ok()?;
    match e.evaluate(&batch).ok()? {
        datafusion::logical_expr::ColumnarValue::Scalar(v) => Some(v),
        datafusion::logical_expr::ColumnarValue::Array(a) => {
            ScalarValue::try_from_array(&a, 0).ok()
        }
    }
}

/// How a KDA function (as the planner names its UDF or DataFusion
/// built-in) is written in Flink.
enum Mapped {
    /// A Flink built-in of the same arguments and meaning.
    Same(&'static str),
    /// Its one argument: the function only guards a value (e.g. KDA's
    /// division-by-zero check, which a Flink job reports by failing).
    Identity,
}

/// The KDA → Flink function table: only functions whose Flink built-in
/// has the same meaning for every argument KDA accepts.
fn function(name: &str) -> Option<Mapped> {
    Some(match name {
        crate::functions::KDA_DIVISOR => Mapped::Identity,
        "abs" => Mapped::Same("ABS"),
        "upper" => Mapped::Same("UPPER"),
        "lower" => Mapped::Same("LOWER"),
        "char_length" | "character_length" => Mapped::Same("CHAR_LENGTH"),
        "coalesce" => Mapped::Same("COALESCE"),
        "nullif" => Mapped::Same("NULLIF"),
        "sqrt" => Mapped::Same("SQRT"),
        "ln" => Mapped::Same("LN"),
        "exp" => Mapped::Same("EXP"),
        "power" => Mapped::Same("POWER"),
        _ => return None,
    })
}

/// A literal value as Flink SQL.
pub(super) fn literal(v: &ScalarValue) -> Result<String, Untranslatable> {
    use ScalarValue as S;
    if v.is_null() {
        return Ok(match v.data_type() {
            DataType::Null => "NULL".into(),
            t => format!("CAST(NULL AS {})", arrow_type(&t)?),
        });
    }
    Ok(match v {
        S::Boolean(Some(b)) => if *b { "TRUE" } else { "FALSE" }.into(),
        S::Int8(Some(n)) => format!("CAST({n} AS TINYINT)"),
        S::Int16(Some(n)) => format!("CAST({n} AS SMALLINT)"),
        S::Int32(Some(n)) => n.to_string(),
        S::Int64(Some(n)) if i32::try_from(*n).is_ok() => format!("CAST({n} AS BIGINT)"),
        S::Int64(Some(n)) => n.to_string(),
        S::Float64(Some(x)) if x.is_finite() => format!("{x:?}E0"),
        S::Float32(Some(x)) if x.is_finite() => format!("CAST({x:?}E0 AS FLOAT)"),
        S::Decimal128(Some(n), p, s) => {
            let text = decimal_text(*n, *s);
            format!("CAST({text} AS DECIMAL({p}, {s}))")
        }
        S::Utf8(Some(s)) | S::LargeUtf8(Some(s)) | S::Utf8View(Some(s)) => string_literal(s),
        S::TimestampMillisecond(Some(ms), None) => {
            let t = chrono::DateTime::from_timestamp_millis(*ms)
                .ok_or_else(|| format!("timestamp {ms} ms"))?;
            format!("TIMESTAMP '{}'", t.format("%Y-%m-%d %H:%M:%S%.3f"))
        }
        S::Date32(Some(d)) => {
            let t = chrono::DateTime::from_timestamp(i64::from(*d) * 86_400, 0)
                .ok_or_else(|| format!("date {d}"))?;
            format!("DATE '{}'", t.format("%Y-%m-%d"))
        }
        S::IntervalDayTime(Some(iv)) => {
            day_time_interval(i64::from(iv.days) * 86_400_000 + i64::from(iv.milliseconds))
        }
        S::IntervalMonthDayNano(Some(iv)) if iv.months == 0 => {
            if iv.nanoseconds % 1_000_000 != 0 {
                return Err("an interval finer than a millisecond".into());
            }
            day_time_interval(i64::from(iv.days) * 86_400_000 + iv.nanoseconds / 1_000_000)
        }
        S::IntervalMonthDayNano(Some(iv)) if iv.days == 0 && iv.nanoseconds == 0 => {
            year_month_interval(iv.months)
        }
        S::IntervalYearMonth(Some(m)) => year_month_interval(*m),
        other => return Err(format!("literal {other}")),
    })
}

fn decimal_text(n: i128, scale: i8) -> String {
    if scale <= 0 {
        return format!("{}{}", n, "0".repeat(scale.unsigned_abs() as usize));
    }
    let digits = n.unsigned_abs().to_string();
    let scale = scale as usize;
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    let sign = if n < 0 { "-" } else { "" };
    format!("{sign}{int}.{frac}")
}

/// An interval of `ms` milliseconds: `INTERVAL '10' SECOND` (the largest
/// unit that holds it whole, under 100), else `INTERVAL 'd hh:mm:ss.fff'
/// DAY TO SECOND(3)`.
pub(super) fn day_time_interval(ms: i64) -> String {
    for (unit, size) in [
        ("DAY", 86_400_000),
        ("HOUR", 3_600_000),
        ("MINUTE", 60_000),
        ("SECOND", 1000),
    ] {
        if ms != 0 && ms % size == 0 && (ms / size).abs() < 100 {
            return format!("INTERVAL '{}' {unit}", ms / size);
        }
    }
    if ms.abs() < 100_000 {
        let sign = if ms < 0 { "-" } else { "" };
        let ms = ms.unsigned_abs();
        return format!("INTERVAL '{sign}{}.{:03}' SECOND", ms / 1000, ms % 1000);
    }
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    let (days, rest) = (ms / 86_400_000, ms % 86_400_000);
    let (h, m, s, f) = (
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000,
    );
    format!("INTERVAL '{sign}{days} {h:02}:{m:02}:{s:02}.{f:03}' DAY TO SECOND(3)")
}

fn year_month_interval(months: i32) -> String {
    let sign = if months < 0 { "-" } else { "" };
    let m = months.unsigned_abs();
    format!("INTERVAL '{sign}{}-{}' YEAR TO MONTH", m / 12, m % 12)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_keep_their_types() {
        assert_eq!(
            literal(&ScalarValue::Float64(Some(101.0))).unwrap(),
            "101.0E0"
        );
        assert_eq!(literal(&ScalarValue::Int32(Some(3))).unwrap(), "3");
        assert_eq!(
            literal(&ScalarValue::Utf8(Some("it's".into()))).unwrap(),
            "'it''s'"
        );
        assert_eq!(
            literal(&ScalarValue::TimestampMillisecond(Some(1_500), None)).unwrap(),
            "TIMESTAMP '1970-01-01 00:00:01.500'"
        );
        assert_eq!(decimal_text(-1234, 2), "-12.34");
        assert_eq!(decimal_text(5, 3), "0.005");
        assert_eq!(day_time_interval(60_000), "INTERVAL '1' MINUTE");
        assert_eq!(day_time_interval(3_600_000 * 2), "INTERVAL '2' HOUR");
        assert_eq!(day_time_interval(-1), "INTERVAL '-0.001' SECOND");
        assert_eq!(
            day_time_interval(90_061_001),
            "INTERVAL '1 01:01:01.001' DAY TO SECOND(3)"
        );
    }
}
