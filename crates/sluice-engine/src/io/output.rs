//! Output rows as KDA delivers them: JSON objects keyed by column name.
//!
//! TIMESTAMP values are written in KDA's form `2018-08-01 20:17:30.000`,
//! DATE as `2018-08-01`, TIME as `20:17:30.000`; numbers as JSON numbers,
//! DECIMAL with its scale; NULL as `null`. ROWTIME is written only when
//! asked for (KDA destinations carry only the stream's declared columns).

use std::fmt::Write as _;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, Time32MillisecondType, TimeUnit, TimestampMillisecondType, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};

/// `2018-08-01 20:17:30.000` for milliseconds since the epoch.
pub fn format_timestamp(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
        None => ms.to_string(),
    }
}

fn json_string(out: &mut String, s: &str) {
    // serde_json's escaping, without an allocation per value.
    let _ = serde_json::to_writer(string_writer(out), s);
}

/// Adapts a `String` to `io::Write` for serde_json (it writes valid UTF-8).
fn string_writer(out: &mut String) -> impl std::io::Write + '_ {
    struct W<'a>(&'a mut String);
    impl std::io::Write for W<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.push_str(&String::from_utf8_lossy(buf));
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    W(out)
}

/// Appends the JSON form of `array[row]` to `out`.
pub fn write_value(out: &mut String, array: &dyn Array, row: usize) {
    if array.is_null(row) {
        out.push_str("null");
        return;
    }
    macro_rules! num {
        ($t:ty) => {{
            let _ = write!(out, "{}", array.as_primitive::<$t>().value(row));
        }};
    }
    match array.data_type() {
        DataType::Boolean => out.push_str(if array.as_boolean().value(row) {
            "true"
        } else {
            "false"
        }),
        DataType::Int8 => num!(Int8Type),
        DataType::Int16 => num!(Int16Type),
        DataType::Int32 => num!(Int32Type),
        DataType::Int64 => num!(Int64Type),
        DataType::UInt8 => num!(UInt8Type),
        DataType::UInt16 => num!(UInt16Type),
        DataType::UInt32 => num!(UInt32Type),
        DataType::UInt64 => num!(UInt64Type),
        DataType::Float32 => float(
            out,
            f64::from(array.as_primitive::<Float32Type>().value(row)),
        ),
        DataType::Float64 => float(out, array.as_primitive::<Float64Type>().value(row)),
        DataType::Decimal128(_, _) => {
            let a = array.as_primitive::<Decimal128Type>();
            out.push_str(&a.value_as_string(row));
        }
        DataType::Utf8 => json_string(out, array.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => json_string(out, array.as_string::<i64>().value(row)),
        DataType::Utf8View => json_string(out, array.as_string_view().value(row)),
        DataType::Binary => json_string(
            out,
            &crate::errors::hex(array.as_binary::<i32>().value(row)),
        ),
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            let ms = array.as_primitive::<TimestampMillisecondType>().value(row);
            json_string(out, &format_timestamp(ms));
        }
        DataType::Date32 => {
            let d = array.as_primitive::<Date32Type>().value(row);
            let s = chrono::DateTime::from_timestamp(i64::from(d) * 86_400, 0)
                .map(|t| t.format("%Y-%m-%d").to_string())
                .unwrap_or_else(|| d.to_string());
            json_string(out, &s);
        }
        DataType::Time32(TimeUnit::Millisecond) => {
            let ms = array.as_primitive::<Time32MillisecondType>().value(row);
            let s = chrono::DateTime::from_timestamp_millis(i64::from(ms))
                .map(|t| t.format("%H:%M:%S%.3f").to_string())
                .unwrap_or_else(|| ms.to_string());
            json_string(out, &s);
        }
        _ => {
            // Any other type (from an expression): its Arrow display form.
            let s = datafusion::arrow::util::display::array_value_to_string(array, row)
                .unwrap_or_default();
            json_string(out, &s);
        }
    }
}

fn float(out: &mut String, v: f64) {
    if v.is_finite() {
        if v.fract() == 0.0 && v.abs() < 1e15 {
            let _ = write!(out, "{v:.1}");
        } else {
            let _ = write!(out, "{v}");
        }
    } else {
        // JSON has no NaN/Infinity: written as strings, as Java's JSON writers do.
        json_string(out, &v.to_string());
    }
}

/// Row `row` of `batch` as one JSON object (no trailing newline). Column 0
/// is ROWTIME; it is written only when `rowtime` is true.
pub fn row_json(batch: &RecordBatch, row: usize, rowtime: bool) -> String {
    let mut out = String::with_capacity(64);
    write_row(&mut out, batch, row, rowtime);
    out
}

fn write_row(out: &mut String, batch: &RecordBatch, row: usize, rowtime: bool) {
    out.push('{');
    let schema = batch.schema();
    let mut first = true;
    for (i, f) in schema.fields().iter().enumerate() {
        if i == 0 && !rowtime {
            continue;
        }
        if !first {
            out.push_str(", ");
        }
        first = false;
        json_string(out, f.name());
        out.push_str(": ");
        write_value(out, batch.column(i).as_ref(), row);
    }
    out.push('}');
}

/// Row `row` of `batch` as one CSV line (no line end), as KDA's CSV
/// destination format writes it: values in the same forms as JSON, strings
/// bare unless they hold a comma, quote or line break (then quoted, quotes
/// doubled), NULL as nothing.
pub fn row_csv(batch: &RecordBatch, row: usize, rowtime: bool) -> String {
    let mut out = String::with_capacity(64);
    let mut value = String::new();
    for i in 0..batch.num_columns() {
        if i == 0 && !rowtime {
            continue;
        }
        if i > usize::from(!rowtime) {
            out.push(',');
        }
        let array = batch.column(i).as_ref();
        if array.is_null(row) {
            continue;
        }
        value.clear();
        write_value(&mut value, array, row);
        let text: String = if value.starts_with('"') {
            serde_json::from_str::<String>(&value).unwrap_or_else(|_| value.clone())
        } else {
            value.clone()
        };
        if text.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&text.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&text);
        }
    }
    out
}

/// Every row of `batch` as JSON lines.
pub fn batch_json_lines(batch: &RecordBatch, rowtime: bool) -> String {
    let mut out = String::with_capacity(batch.num_rows() * 64);
    for row in 0..batch.num_rows() {
        write_row(&mut out, batch, row, rowtime);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Float64Array, StringArray, TimestampMillisecondArray};
    use datafusion::arrow::datatypes::{Field, Schema};

    use super::*;

    #[test]
    fn writes_kda_forms() {
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                "ROWTIME",
                DataType::Timestamp(TimeUnit::Millisecond, None),
                false,
            ),
            Field::new("T", DataType::Utf8, true),
            Field::new("P", DataType::Float64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(TimestampMillisecondArray::from(vec![1_533_154_650_000])),
                Arc::new(StringArray::from(vec![Some("a\"b")])),
                Arc::new(Float64Array::from(vec![Some(2.0)])),
            ],
        )
        .unwrap();
        assert_eq!(row_json(&batch, 0, false), r#"{"T": "a\"b", "P": 2.0}"#);
        assert_eq!(
            row_json(&batch, 0, true),
            r#"{"ROWTIME": "2018-08-01 20:17:30.000", "T": "a\"b", "P": 2.0}"#
        );
        assert_eq!(row_csv(&batch, 0, false), r#""a""b",2.0"#);
        assert_eq!(
            row_csv(&batch, 0, true),
            r#"2018-08-01 20:17:30.000,"a""b",2.0"#
        );
    }
}
