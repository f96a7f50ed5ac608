//! Rows of the application's `error_stream`.
//!
//! A record the input schema cannot map, and a row whose expression fails at
//! run time (a cast, a division by zero), becomes an [`ErrorRow`]; the
//! runtime stamps it with ERROR_TIME and routes it to `error_stream`, whose
//! columns are KDA's (see [`crate::plan::error_stream_columns`]). The app
//! goes on; nothing else is lost.

use std::fmt::Write as _;

/// One row of `error_stream`, before its ERROR_TIME is stamped.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorRow {
    /// ERROR_LEVEL: `WARNING` for input coercion, `ERROR` for pump failures.
    pub level: &'static str,
    /// ERROR_NAME, e.g. `Coercion error`.
    pub name: &'static str,
    /// MESSAGE: what was wrong and where.
    pub message: String,
    /// DATA_ROWTIME: the ROWTIME of the row or record that failed.
    pub data_rowtime: Option<i64>,
    /// DATA_ROW: the failed record's bytes (or the row as JSON), hex-encoded.
    pub data_row: String,
    /// PUMP_NAME: the pump that failed; NULL for input errors.
    pub pump: Option<String>,
}

/// Upper-case hex of `bytes`, as KDA writes DATA_ROW.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02X}");
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_is_upper_case() {
        assert_eq!(super::hex(b"{\"a\"}"), "7B2261227D");
    }
}
