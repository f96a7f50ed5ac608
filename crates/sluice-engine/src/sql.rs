//! The KDA SQL front end: application code → [`Statement`]s.
//!
//! KDA application code is a list of `CREATE [OR REPLACE] STREAM` and
//! `CREATE [OR REPLACE] PUMP ... AS INSERT INTO ... SELECT STREAM ...`
//! statements. The text is tokenized once with `sqlparser` (the version
//! DataFusion re-exports), split at top-level semicolons, and each statement's
//! tokens get a thin pre-pass for KDA syntax that `sqlparser` lacks:
//!
//! - `SELECT STREAM` drops the `STREAM` word (every KDA query is continuous);
//! - `STEP(x BY y)` becomes `STEP(x, y)`;
//! - a window on a joined stream, `FROM S OVER (RANGE INTERVAL '1' MINUTE
//!   PRECEDING) AS s` or `OVER (ROWS 10 PRECEDING)`, becomes the table
//!   arguments `S(kda_range(INTERVAL '1' MINUTE))` / `S(kda_rows(10))`
//!   ([`RANGE_FUNCTION`], [`ROWS_FUNCTION`]), which the planner reads back;
//! - `WINDOWED BY STAGGER (PARTITION BY k1, k2 RANGE INTERVAL '1' MINUTE)`
//!   becomes `GROUP BY kda_stagger(INTERVAL '1' MINUTE), k1, k2` (see
//!   [`STAGGER_FUNCTION`]), which the planner turns into a stagger window.
//!
//! The query after `INSERT INTO` is then parsed by `sqlparser` itself, so
//! expressions, CASE, CAST, `||`, LIKE, SIMILAR TO, INTERVAL literals and
//! comments are its grammar. Identifiers follow KDA: unquoted ones are
//! upper-cased ([`kda_name`]), quoted ones keep their case.
//!
//! Entry point: [`parse_app`].

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, Function, Ident, ObjectNamePart, Query, visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Word};

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
        statements.push(parse_statement(kda_prepass(table_window_prepass(
            stagger_prepass(stmt_tokens)?,
        )?))?);
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
    let mut p = Parser::new(&dialect).with_tokens_with_locations(kda_prepass(tokens));
    let mut e = p.parse_expr().map_err(syntax)?;
    expect_end(&mut p)?;
    let _ = visit_expressions_mut(&mut e, |x: &mut Expr| {
        normalize_expr_idents(x);
        ControlFlow::<()>::Continue(())
    });
    Ok(e)
}

/// Splits tokens at top-level semicolons, dropping statements that hold only
/// whitespace and comments.
fn split_statements(tokens: Vec<TokenWithSpan>) -> Vec<Vec<TokenWithSpan>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut depth = 0i32;
    for t in tokens {
        match t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::SemiColon if depth <= 0 => {
                out.push(std::mem::take(&mut cur));
                depth = 0;
                continue;
            }
            _ => {}
        }
        cur.push(t);
    }
    out.push(cur);
    out.into_iter()
        .filter(|s| s.iter().any(|t| !is_trivia(&t.token)))
        .collect()
}

fn is_trivia(t: &Token) -> bool {
    matches!(t, Token::Whitespace(_) | Token::EOF)
}

fn is_word(t: &Token, w: &str) -> bool {
    matches!(t, Token::Word(Word { value, quote_style: None, .. }) if value.eq_ignore_ascii_case(w))
}

/// The KDA pre-pass over one statement's tokens (see the module docs).
fn kda_prepass(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    // Paren depths at which an open STEP( call sits, innermost last.
    let mut step_depths: Vec<i32> = Vec::new();
    let mut depth = 0i32;
    let mut last_significant: Option<Token> = None;
    let mut pending_step = false;
    for t in tokens {
        if is_trivia(&t.token) {
            out.push(t);
            continue;
        }
        // SELECT STREAM -> SELECT
        if is_word(&t.token, "STREAM")
            && last_significant
                .as_ref()
                .is_some_and(|l| is_word(l, "SELECT"))
        {
            last_significant = Some(t.token.clone());
            continue;
        }
        let mut t = t;
        match &t.token {
            Token::LParen => {
                depth += 1;
                if pending_step {
                    step_depths.push(depth);
                }
            }
            Token::RParen => {
                if step_depths.last() == Some(&depth) {
                    step_depths.pop();
                }
                depth -= 1;
            }
            tok if is_word(tok, "BY") && step_depths.last() == Some(&depth) => {
                t.token = Token::Comma;
            }
            _ => {}
        }
        pending_step = is_word(&t.token, "STEP");
        last_significant = Some(t.token.clone());
        out.push(t);
    }
    out
}

/// The table argument a `RANGE ... PRECEDING` window on a joined stream is
/// rewritten to (lower-case, as normalized function names are).
pub const RANGE_FUNCTION: &str = "kda_range";
/// The table argument a `ROWS n PRECEDING` window on a joined stream is
/// rewritten to.
pub const ROWS_FUNCTION: &str = "kda_rows";

/// Rewrites a window after a stream name in FROM/JOIN,
/// `S OVER (RANGE interval PRECEDING)` / `S OVER (ROWS n PRECEDING)`, into
/// `S(KDA_RANGE(interval))` / `S(KDA_ROWS(n))`, keeping token positions.
/// `OVER` after `)` (an analytic function call) is left alone.
fn table_window_prepass(tokens: Vec<TokenWithSpan>) -> Result<Vec<TokenWithSpan>> {
    let significant: Vec<usize> = (0..tokens.len())
        .filter(|&i| !is_trivia(&tokens[i].token))
        .collect();
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    let mut next = 0usize; // next token index of `tokens` to copy
    let mut k = 0usize;
    while k < significant.len() {
        let i = significant[k];
        let after_name = k > 0
            && matches!(&tokens[significant[k - 1]].token, Token::Word(w)
                if w.quote_style.is_some() || w.keyword == Keyword::NoKeyword);
        if !(is_word(&tokens[i].token, "OVER") && after_name) {
            k += 1;
            continue;
        }
        let over = &tokens[i];
        let at = |m: usize| significant.get(m).map(|&j| &tokens[j]);
        let bad = |t: Option<&TokenWithSpan>, what: &str| EngineError::Syntax {
            location: t.map_or(location_of(over), location_of),
            message: format!(
                "expected {what} in a join window: OVER (RANGE INTERVAL '1' MINUTE PRECEDING) or OVER (ROWS 10 PRECEDING)"
            ),
        };
        if at(k + 1).is_none_or(|t| t.token != Token::LParen) {
            return Err(bad(at(k + 1), "("));
        }
        let unit = at(k + 2);
        let function = match unit {
            Some(t) if is_word(&t.token, "RANGE") => "KDA_RANGE",
            Some(t) if is_word(&t.token, "ROWS") => "KDA_ROWS",
            _ => return Err(bad(unit, "RANGE or ROWS")),
        };
        // The closing parenthesis, and PRECEDING just before it.
        let mut depth = 0i32;
        let mut close = None;
        for (m, &j) in significant.iter().enumerate().skip(k + 2) {
            match &tokens[j].token {
                Token::LParen => depth += 1,
                Token::RParen if depth == 0 => {
                    close = Some(m);
                    break;
                }
                Token::RParen => depth -= 1,
                _ => {}
            }
        }
        let Some(close) = close else {
            return Err(bad(None, "a closing )"));
        };
        if close < k + 5 || !is_word(&tokens[significant[close - 1]].token, "PRECEDING") {
            return Err(bad(at(close), "PRECEDING"));
        }
        out.extend_from_slice(&tokens[next..i]);
        let span = over.span;
        out.push(TokenWithSpan {
            token: Token::LParen,
            span,
        });
        out.push(TokenWithSpan {
            token: Token::make_word(function, None),
            span: tokens[significant[k + 2]].span,
        });
        out.push(TokenWithSpan {
            token: Token::LParen,
            span,
        });
        out.extend_from_slice(&tokens[significant[k + 2] + 1..significant[close - 1]]);
        out.push(TokenWithSpan {
            token: Token::RParen,
            span: tokens[significant[close]].span,
        });
        out.push(TokenWithSpan {
            token: Token::RParen,
            span: tokens[significant[close]].span,
        });
        next = significant[close] + 1;
        k = close + 1;
    }
    out.extend_from_slice(&tokens[next..]);
    Ok(out)
}

/// The function name `WINDOWED BY STAGGER` is rewritten to (lower-case, as
/// normalized function names are).
pub const STAGGER_FUNCTION: &str = "kda_stagger";

/// Rewrites `WINDOWED BY STAGGER (PARTITION BY keys RANGE interval)` into
/// `GROUP BY kda_stagger(interval), keys`, keeping each token's position.
fn stagger_prepass(tokens: Vec<TokenWithSpan>) -> Result<Vec<TokenWithSpan>> {
    let significant: Vec<usize> = (0..tokens.len())
        .filter(|&i| !is_trivia(&tokens[i].token))
        .collect();
    let Some(k) =
        (0..significant.len()).find(|&k| is_word(&tokens[significant[k]].token, "WINDOWED"))
    else {
        return Ok(tokens);
    };
    let at = |k: usize| significant.get(k).map(|&i| &tokens[i]);
    let windowed = &tokens[significant[k]];
    let bad = |t: Option<&TokenWithSpan>, what: &str| EngineError::Syntax {
        location: t.map_or(location_of(windowed), location_of),
        message: format!(
            "expected {what} in WINDOWED BY STAGGER (PARTITION BY ... RANGE INTERVAL ...)"
        ),
    };
    if !at(k + 1).is_some_and(|t| is_word(&t.token, "BY")) {
        return Err(bad(at(k + 1), "BY"));
    }
    if !at(k + 2).is_some_and(|t| is_word(&t.token, "STAGGER")) {
        return Err(bad(at(k + 2), "STAGGER"));
    }
    if at(k + 3).is_none_or(|t| t.token != Token::LParen) {
        return Err(bad(at(k + 3), "("));
    }
    if !at(k + 4).is_some_and(|t| is_word(&t.token, "PARTITION")) {
        return Err(bad(at(k + 4), "PARTITION BY"));
    }
    if !at(k + 5).is_some_and(|t| is_word(&t.token, "BY")) {
        return Err(bad(at(k + 5), "PARTITION BY"));
    }
    // Find RANGE and the closing parenthesis at the clause's own depth.
    let mut depth = 0i32;
    let mut range = None;
    let mut close = None;
    for (m, &i) in significant.iter().enumerate().skip(k + 6) {
        match &tokens[i].token {
            Token::LParen => depth += 1,
            Token::RParen if depth == 0 => {
                close = Some(m);
                break;
            }
            Token::RParen => depth -= 1,
            t if depth == 0 && is_word(t, "RANGE") => range = Some(m),
            _ => {}
        }
    }
    let Some(close) = close else {
        return Err(bad(None, "a closing )"));
    };
    let Some(range) = range else {
        return Err(bad(at(close), "RANGE INTERVAL"));
    };
    if range == k + 6 {
        return Err(bad(at(range), "a partition key"));
    }
    let span_of = |m: usize| tokens[significant[m]].span;
    let word = |w: &str, m: usize| TokenWithSpan {
        token: Token::make_word(w, None),
        span: span_of(m),
    };
    let punct = |t: Token, m: usize| TokenWithSpan {
        token: t,
        span: span_of(m),
    };
    let space = |m: usize| TokenWithSpan {
        token: Token::Whitespace(datafusion::sql::sqlparser::tokenizer::Whitespace::Space),
        span: span_of(m),
    };
    let mut out: Vec<TokenWithSpan> = tokens[..significant[k]].to_vec();
    out.push(word("GROUP", k));
    out.push(space(k));
    out.push(word("BY", k + 1));
    out.push(space(k + 1));
    out.push(word("KDA_STAGGER", k + 2));
    out.push(punct(Token::LParen, k + 3));
    out.extend_from_slice(&tokens[significant[range] + 1..significant[close]]);
    out.push(punct(Token::RParen, close));
    out.push(punct(Token::Comma, range));
    out.push(space(range));
    out.extend_from_slice(&tokens[significant[k + 5] + 1..significant[range]]);
    out.push(space(close));
    out.extend_from_slice(&tokens[significant[close] + 1..]);
    Ok(out)
}

/// A syntax error; errors at the end of input (which sqlparser reports at
/// 0:0) are placed at `end`, the statement's last token.
fn syntax_at(end: Location) -> impl Fn(ParserError) -> EngineError {
    move |e| match syntax(e) {
        EngineError::Syntax { location, message } if location.line == 0 => EngineError::Syntax {
            location: end,
            message,
        },
        other => other,
    }
}

fn syntax(e: ParserError) -> EngineError {
    let text = e.to_string();
    let text = text.strip_prefix("sql parser error: ").unwrap_or(&text);
    // sqlparser ends its messages with " at Line: L, Column: C".
    if let Some(pos) = text.rfind(" at Line: ") {
        let tail = &text[pos + " at Line: ".len()..];
        let mut parts = tail.split(", Column: ");
        let line = parts.next().and_then(|l| l.trim().parse().ok());
        let column = parts.next().and_then(|c| c.trim().parse().ok());
        if let (Some(line), Some(column)) = (line, column) {
            return EngineError::Syntax {
                location: Location::new(line, column),
                message: text[..pos].to_string(),
            };
        }
    }
    EngineError::Syntax {
        location: Location::default(),
        message: text.to_string(),
    }
}

fn location_of(t: &TokenWithSpan) -> Location {
    Location::new(t.span.start.line, t.span.start.column)
}

fn name_of(ident: Ident) -> Name {
    Name {
        value: kda_name(&ident),
        location: ident_location(&ident),
    }
}

fn expect_word(p: &mut Parser, w: &str) -> Result<TokenWithSpan> {
    let t = p.next_token();
    if is_word(&t.token, w) {
        Ok(t)
    } else {
        Err(EngineError::Syntax {
            location: location_of(&t),
            message: format!("expected {w}, found {}", t.token),
        })
    }
}

fn parse_statement(tokens: Vec<TokenWithSpan>) -> Result<Statement> {
    let end = tokens
        .iter()
        .rev()
        .find(|t| !is_trivia(&t.token))
        .map(|t| Location::new(t.span.end.line, t.span.end.column))
        .unwrap_or_default();
    let syntax = syntax_at(end);
    let dialect = GenericDialect {};
    let mut p = Parser::new(&dialect).with_tokens_with_locations(tokens);
    let first = p.peek_token();
    if is_word(&first.token, "SELECT") {
        return Err(EngineError::Unsupported {
            location: location_of(&first),
            what: "a SELECT outside a pump has nowhere to send its rows; write CREATE PUMP \"P\" AS INSERT INTO \"S\" SELECT STREAM ...".into(),
        });
    }
    expect_word(&mut p, "CREATE")?;
    let _or_replace = p.parse_keywords(&[Keyword::OR, Keyword::REPLACE]);
    let kind = p.next_token();
    if is_word(&kind.token, "STREAM") {
        parse_stream(&mut p, &syntax).map(Statement::Stream)
    } else if is_word(&kind.token, "PUMP") {
        parse_pump(&mut p, &syntax).map(Statement::Pump)
    } else {
        Err(EngineError::Unsupported {
            location: location_of(&kind),
            what: format!(
                "CREATE {}: KDA application code declares in-application streams (CREATE STREAM) and pumps (CREATE PUMP)",
                kind.token
            ),
        })
    }
}

fn expect_end(p: &mut Parser) -> Result<()> {
    let t = p.peek_token();
    if t.token == Token::EOF {
        Ok(())
    } else {
        Err(EngineError::Syntax {
            location: location_of(&t),
            message: format!("unexpected {} after the end of the statement", t.token),
        })
    }
}

fn parse_stream(
    p: &mut Parser,
    syntax: &impl Fn(ParserError) -> EngineError,
) -> Result<StreamDecl> {
    let name = name_of(p.parse_identifier().map_err(syntax)?);
    p.expect_token(&Token::LParen).map_err(syntax)?;
    let mut columns = Vec::new();
    loop {
        let col = name_of(p.parse_identifier().map_err(syntax)?);
        let type_tok = p.peek_token();
        let ast_type = p.parse_data_type().map_err(syntax)?;
        let sql_type = SqlType::from_ast(&ast_type).map_err(|message| EngineError::Plan {
            location: location_of(&type_tok),
            message,
        })?;
        let not_null = if p.parse_keywords(&[Keyword::NOT, Keyword::NULL]) {
            true
        } else {
            let _ = p.parse_keyword(Keyword::NULL);
            false
        };
        columns.push(ColumnDecl {
            name: col,
            sql_type,
            not_null,
        });
        if p.consume_token(&Token::Comma) {
            continue;
        }
        p.expect_token(&Token::RParen).map_err(syntax)?;
        break;
    }
    let description = if is_word(&p.peek_token().token, "DESCRIPTION") {
        p.next_token();
        Some(p.parse_literal_string().map_err(syntax)?)
    } else {
        None
    };
    expect_end(p)?;
    Ok(StreamDecl {
        name,
        columns,
        description,
    })
}

fn parse_pump(p: &mut Parser, syntax: &impl Fn(ParserError) -> EngineError) -> Result<PumpDecl> {
    let name = name_of(p.parse_identifier().map_err(syntax)?);
    let stopped = if is_word(&p.peek_token().token, "STOPPED") {
        p.next_token();
        true
    } else {
        false
    };
    p.expect_keyword(Keyword::AS).map_err(syntax)?;
    p.expect_keyword(Keyword::INSERT).map_err(syntax)?;
    p.expect_keyword(Keyword::INTO).map_err(syntax)?;
    let target = name_of(p.parse_identifier().map_err(syntax)?);
    let target_columns = if p.peek_token().token == Token::LParen {
        p.next_token();
        let mut cols = Vec::new();
        loop {
            cols.push(name_of(p.parse_identifier().map_err(syntax)?));
            if p.consume_token(&Token::Comma) {
                continue;
            }
            p.expect_token(&Token::RParen).map_err(syntax)?;
            break;
        }
        Some(cols)
    } else {
        None
    };
    let query_location = location_of(&p.peek_token());
    let mut query = p.parse_query().map_err(syntax)?;
    expect_end(p)?;
    normalize_query(&mut query);
    Ok(PumpDecl {
        name,
        stopped,
        target,
        target_columns,
        query,
        query_location,
    })
}

/// Normalizes identifiers inside expressions the KDA way: unquoted column
/// and stream names are upper-cased and marked quoted (so DataFusion, which
/// runs without its own normalization, keeps them), unquoted function names
/// are lower-cased (DataFusion's registry is lower-case).
pub fn normalize_query(query: &mut Query) {
    let _ = visit_expressions_mut(query, |e: &mut Expr| {
        normalize_expr_idents(e);
        ControlFlow::<()>::Continue(())
    });
}

/// Normalizes the identifiers directly held by one expression node.
pub fn normalize_expr_idents(e: &mut Expr) {
    match e {
        Expr::Identifier(id) => upper(id),
        Expr::CompoundIdentifier(ids) => ids.iter_mut().for_each(upper),
        Expr::Function(Function { name, .. }) => {
            for part in name.0.iter_mut() {
                if let ObjectNamePart::Identifier(id) = part
                    && id.quote_style.is_none()
                {
                    id.value = id.value.to_lowercase();
                }
            }
        }
        _ => {}
    }
}

fn upper(id: &mut Ident) {
    if id.quote_style.is_none() {
        id.value = id.value.to_uppercase();
        id.quote_style = Some('"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
