//! The KDA SQL front end: application code → [`Statement`]s.
//!
//! KDA application code is a list of `CREATE [OR REPLACE] STREAM` and
//! `CREATE [OR REPLACE] PUMP ... AS INSERT INTO ... SELECT STREAM ...`
//! statements. The text is tokenized once with `sqlparser` (the version
//! DataFusion re-exports), split at top-level semicolons, and each statement's
//! tokens get a thin pre-pass for KDA syntax that `sqlparser` lacks:
//!
//! - `SELECT STREAM` drops the `STREAM` word (every KDA query is continuous);
//! - `FN(CURSOR(SELECT ...), args)` drops the `CURSOR` word, leaving a
//!   subquery argument (KDA's table functions, planned as hidden streams);
//! - `STEP(x BY y)` becomes `STEP(x, y)`;
//! - a window on a joined stream, `FROM S OVER (RANGE INTERVAL '1' MINUTE
//!   PRECEDING) AS s` or `OVER (ROWS 10 PRECEDING)`, becomes the table
//!   arguments `S(kda_range(INTERVAL '1' MINUTE))` / `S(kda_rows(10))`
//!   ([`RANGE_FUNCTION`], [`ROWS_FUNCTION`]), which the planner reads back;
//! - `WINDOWED BY STAGGER (PARTITION BY k1, k2 RANGE INTERVAL '1' MINUTE)`
//!   becomes `GROUP BY kda_stagger(INTERVAL '1' MINUTE), k1, k2` (see
//!   [`STAGGER_FUNCTION`]), which the planner turns into a stagger window;
//! - `SUBSTRING(s SIMILAR p ESCAPE e)` becomes `kda_substring_similar(s, p,
//!   e)`, and `TRIM(BOTH FROM s)` (LEADING, TRAILING) `TRIM(BOTH ' ' FROM s)`;
//! - a datetime difference with an interval qualifier, `(a - b) SECOND`,
//!   becomes `kda_interval_of(a - b, 'SECOND')` (the function library's
//!   interval arithmetic, `functions::interval`).
//!
//! The query after `INSERT INTO` is then parsed by `sqlparser` itself, so
//! expressions, CASE, CAST, `||`, LIKE, SIMILAR TO, INTERVAL literals and
//! comments are its grammar. Identifiers follow KDA: unquoted ones are
//! upper-cased ([`kda_name`]), quoted ones keep their case.
//!
//!
//! Files: `prepass.rs` (splitting into statements and the token pre-pass),
//! `parse.rs` (statements and the KDA identifier rules); the statement
//! types and entry points are here.

mod parse;
mod prepass;

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Expr, Ident, Query, visit_expressions_mut};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::Tokenizer;

use parse::{expect_end, parse_statement, syntax};
pub use parse::{normalize_expr_idents, normalize_query};
pub use prepass::{RANGE_FUNCTION, ROWS_FUNCTION, STAGGER_FUNCTION};
use prepass::{
    cursor_prepass, interval_qualifier_prepass, kda_prepass, nth_value_prepass, split_statements,
    stagger_prepass, substring_similar_prepass, table_window_prepass, trim_prepass,
};

use crate::error::{EngineError, Location, Result};
use crate::types::SqlType;

/// A name in application code, as KDA resolves it, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    /// Upper-cased if unquoted, as written if quoted.
    pub value: String,
    /// Where the name starts.
    pub location: Location,
}

/// One column of a `CREATE STREAM`.
#[derive(Debug, Clone)]
pub struct ColumnDecl {
    /// Column name.
    pub name: Name,
    /// Declared type.
    pub sql_type: SqlType,
    /// `NOT NULL` was given.
    pub not_null: bool,
}

/// `CREATE [OR REPLACE] STREAM "S" (col TYPE [NOT NULL], ...) [DESCRIPTION '...']`.
#[derive(Debug, Clone)]
pub struct StreamDecl {
    /// Stream name.
    pub name: Name,
    /// Its columns (ROWTIME is implicit).
    pub columns: Vec<ColumnDecl>,
    /// The DESCRIPTION text, if any.
    pub description: Option<String>,
}

/// `CREATE [OR REPLACE] PUMP "P" [STOPPED] AS INSERT INTO "S" [(cols)] SELECT STREAM ...`.
#[derive(Debug, Clone)]
pub struct PumpDecl {
    /// Pump name.
    pub name: Name,
    /// Declared `STOPPED`: planned and checked, but moves no rows.
    pub stopped: bool,
    /// The stream the pump inserts into.
    pub target: Name,
    /// The explicit target column list, if given.
    pub target_columns: Option<Vec<Name>>,
    /// The query, with identifiers normalized the KDA way.
    pub query: Box<Query>,
    /// Where the query starts.
    pub query_location: Location,
}

/// A statement of application code.
#[derive(Debug, Clone)]
pub enum Statement {
    /// An in-application stream.
    Stream(StreamDecl),
    /// A pump.
    Pump(PumpDecl),
}

/// KDA's resolution of an identifier: unquoted upper-cased, quoted as written.
pub fn kda_name(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_uppercase()
    }
}

/// Where an identifier starts.
pub fn ident_location(ident: &Ident) -> Location {
    Location::new(ident.span.start.line, ident.span.start.column)
}

/// Parses application code into statements, in order of appearance.
pub fn parse_app(sql: &str) -> Result<Vec<Statement>> {
    let dialect = GenericDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| EngineError::Syntax {
            location: Location::new(e.location.line, e.location.column),
            message: e.message.clone(),
        })?;
    let mut statements = Vec::new();
    for stmt_tokens in split_statements(tokens) {
        statements.push(parse_statement(nth_value_prepass(
            interval_qualifier_prepass(trim_prepass(substring_similar_prepass(kda_prepass(
                table_window_prepass(stagger_prepass(cursor_prepass(stmt_tokens)?)?)?,
            )))),
        ))?);
    }
    Ok(statements)
}

/// Parses one KDA scalar expression (with the KDA pre-pass and name rules).
pub fn parse_expression(text: &str) -> Result<Expr> {
    let dialect = GenericDialect {};
    let tokens = Tokenizer::new(&dialect, text)
        .tokenize_with_location()
        .map_err(|e| EngineError::Syntax {
            location: Location::new(e.location.line, e.location.column),
            message: e.message.clone(),
        })?;
    let mut p = Parser::new(&dialect).with_tokens_with_locations(interval_qualifier_prepass(
        trim_prepass(substring_similar_prepass(kda_prepass(tokens))),
    ));
    let mut e = p.parse_expr().map_err(syntax)?;
    expect_end(&mut p)?;
    let _ = visit_expressions_mut(&mut e, |x: &mut Expr| {
        normalize_expr_idents(x);
        ControlFlow::<()>::Continue(())
    });
    Ok(e)
}

/// Parses one plain (non-streaming) query, `SELECT .. [FROM (VALUES ..) t(c)]`
/// or `VALUES ..`, with the KDA pre-pass and name rules (as `sluice eval`
/// takes it; see `plan::evaluate_query`).
pub fn parse_query(text: &str) -> Result<Query> {
    let dialect = GenericDialect {};
    let tokens = Tokenizer::new(&dialect, text)
        .tokenize_with_location()
        .map_err(|e| EngineError::Syntax {
            location: Location::new(e.location.line, e.location.column),
            message: e.message.clone(),
        })?;
    let mut p = Parser::new(&dialect).with_tokens_with_locations(nth_value_prepass(
        interval_qualifier_prepass(trim_prepass(substring_similar_prepass(kda_prepass(tokens)))),
    ));
    let mut q = p.parse_query().map_err(syntax)?;
    let _ = p.consume_token(&datafusion::sql::sqlparser::tokenizer::Token::SemiColon);
    expect_end(&mut p)?;
    normalize_query(&mut q);
    Ok(*q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_difference_with_an_interval_qualifier_is_a_call() {
        let e = parse_expression(
            "FLOOR((s.ROWTIME - TIMESTAMP '1970-01-01 00:00:00') SECOND / 10 TO SECOND)",
        )
        .unwrap();
        assert_eq!(
            e.to_string(),
            "FLOOR(kda_interval_of(\"S\".\"ROWTIME\" - TIMESTAMP '1970-01-01 00:00:00', 'SECOND') / 10 TO SECOND)"
        );
        let e = parse_expression("(a - b) MINUTE(4) TO SECOND(3) + x").unwrap();
        assert_eq!(
            e.to_string(),
            "kda_interval_of(\"A\" - \"B\", 'SECOND') + \"X\""
        );
        // An argument list followed by a word is not a difference.
        let e = parse_expression("f(a - b) * 2").unwrap();
        assert_eq!(e.to_string(), "f(\"A\" - \"B\") * 2");
    }

    #[test]
    fn over_after_a_subquery_in_from_is_refused_but_not_after_a_call() {
        let e = parse_app(
            "CREATE PUMP P AS INSERT INTO O SELECT STREAM x FROM S AS a\n\
             JOIN (SELECT STREAM x FROM T) OVER (ROWS 2 PRECEDING) AS b ON a.x = b.x;",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("2:31: not supported: a window (OVER) on a subquery"),
            "{e}"
        );
        let p = pump(
            "CREATE PUMP P AS INSERT INTO O SELECT STREAM COUNT(*) OVER (ROWS 2 PRECEDING) \
             FROM (SELECT STREAM x FROM T);",
        );
        assert!(p.query.to_string().contains("OVER (ROWS 2 PRECEDING)"));
    }

    fn pump(sql: &str) -> PumpDecl {
        match parse_app(sql).unwrap().pop().unwrap() {
            Statement::Pump(p) => p,
            other => panic!("not a pump: {other:?}"),
        }
    }

    #[test]
    fn parses_streams_with_kda_names_and_types() {
        let stmts = parse_app(
            "-- a comment\nCREATE OR REPLACE STREAM \"Dest\" (ticker VARCHAR(4) NOT NULL, \"price\" DOUBLE, n integer)\n DESCRIPTION 'prices';\n/* block */",
        )
        .unwrap();
        assert_eq!(stmts.len(), 1);
        let Statement::Stream(s) = &stmts[0] else {
            panic!()
        };
        assert_eq!(s.name.value, "Dest");
        assert_eq!(s.name.location, Location::new(2, 26));
        let names: Vec<_> = s.columns.iter().map(|c| c.name.value.as_str()).collect();
        assert_eq!(names, ["TICKER", "price", "N"]);
        assert!(s.columns[0].not_null);
        assert_eq!(s.columns[0].sql_type, SqlType::Varchar(4));
        assert_eq!(s.description.as_deref(), Some("prices"));
    }

    #[test]
    fn parses_pumps_with_select_stream_and_step() {
        let p = pump(
            "CREATE OR REPLACE PUMP \"P\" STOPPED AS INSERT INTO \"D\" (a, b)\n SELECT STREAM ticker, COUNT(*) FROM \"S\" GROUP BY ticker, STEP(\"S\".ROWTIME BY INTERVAL '60' SECOND);",
        );
        assert!(p.stopped);
        assert_eq!(p.target.value, "D");
        assert_eq!(p.target_columns.as_ref().unwrap().len(), 2);
        let q = p.query.to_string();
        assert!(q.starts_with("SELECT \"TICKER\", count(*)"), "{q}");
        assert!(
            q.contains("step(\"S\".\"ROWTIME\", INTERVAL '60' SECOND)"),
            "{q}"
        );
        assert_eq!(p.query_location, Location::new(2, 2));
    }

    #[test]
    fn reports_syntax_errors_with_line_and_column() {
        let e = parse_app("CREATE STREAM s (a INTEGER);\nCREATE PUMP p AS INSERT INTO s SELECT STREAM a FROM s WHERE;")
            .unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("2:"), "{msg}");
        let e = parse_app("CREATE STREAM s (a FOO);")
            .unwrap_err()
            .to_string();
        assert!(e.contains("1:"), "{e}");
        let e = parse_app("SELECT STREAM * FROM s;")
            .unwrap_err()
            .to_string();
        assert!(e.contains("nowhere"), "{e}");
    }
}
