//! `HOTSPOTS_RESULT`: the JSON text KDA appends to every row, written from a
//! slice of [`Hotspot`]s.
//!
//! Shape: `{"hotspots":[{"density":D,"minValues":[...],"maxValues":[...]},...]}`
//! with no spaces, one `minValues` / `maxValues` entry per numeric column in
//! cursor order, and `{"hotspots":[]}` when there is none. Numbers are
//! written as `serde_json` writes an `f64` (shortest text that reads back to
//! the same value, always with a `.` or an exponent: `8.0`, `0.25`, `1e-7`, `1e+21`).

use std::fmt::Write;

use crate::detector::Hotspot;

/// The `HOTSPOTS_RESULT` text for `hotspots`, in the order given.
pub fn hotspots_json(hotspots: &[Hotspot]) -> String {
    let mut out = String::with_capacity(16 + hotspots.len() * 96);
    out.push_str("{\"hotspots\":[");
    for (i, hotspot) in hotspots.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"density\":");
        push_number(&mut out, hotspot.density);
        out.push_str(",\"minValues\":");
        push_array(&mut out, &hotspot.min_values);
        out.push_str(",\"maxValues\":");
        push_array(&mut out, &hotspot.max_values);
        out.push('}');
    }
    out.push_str("]}");
    out
}

fn push_array(out: &mut String, values: &[f64]) {
    out.push('[');
    for (i, &value) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_number(out, value);
    }
    out.push(']');
}

/// Finite numbers as `serde_json` writes them; anything else (never
/// produced by the detector, which takes finite input and keeps densities
/// finite) as JSON `null`, which is what `serde_json` does too.
fn push_number(out: &mut String, value: f64) {
    match serde_json::Number::from_f64(value) {
        // Writing to a String cannot fail.
        Some(number) => {
            let _ = write!(out, "{number}");
        }
        None => out.push_str("null"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hotspot(density: f64, min_values: Vec<f64>, max_values: Vec<f64>) -> Hotspot {
        Hotspot {
            density,
            min_values,
            max_values,
            count: 0,
        }
    }

    #[test]
    fn no_hotspots_is_an_empty_array() {
        assert_eq!(hotspots_json(&[]), r#"{"hotspots":[]}"#);
    }

    #[test]
    fn fields_in_order_compact_numbers_as_serde_json_writes_them() {
        let text = hotspots_json(&[
            hotspot(8.0, vec![10.0, -0.25], vec![10.0, 1e-7]),
            hotspot(1234.5678, vec![1e21], vec![2.5e21]),
        ]);
        assert_eq!(
            text,
            r#"{"hotspots":[{"density":8.0,"minValues":[10.0,-0.25],"maxValues":[10.0,1e-7]},{"density":1234.5678,"minValues":[1e+21],"maxValues":[2.5e+21]}]}"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["hotspots"][1]["maxValues"][0], 2.5e21);
    }

    #[test]
    fn non_finite_numbers_become_null() {
        assert_eq!(
            hotspots_json(&[hotspot(f64::NAN, vec![f64::INFINITY], vec![0.0])]),
            r#"{"hotspots":[{"density":null,"minValues":[null],"maxValues":[0.0]}]}"#
        );
    }
}
