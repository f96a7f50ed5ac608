//! Parsing one statement's tokens: `CREATE STREAM` and `CREATE PUMP`, the
//! query after `INSERT INTO` (by `sqlparser`), syntax errors with line and
//! column, and KDA's identifier normalization.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident,
    ObjectName, ObjectNamePart, Query, visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan};

use super::prepass::{is_trivia, is_word, location_of};
use super::{ColumnDecl, Name, PumpDecl, Statement, StreamDecl, ident_location, kda_name};
use crate::error::{EngineError, Location, Result};
use crate::types::SqlType;

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

pub(super) fn syntax(e: ParserError) -> EngineError {
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

pub(super) fn parse_statement(tokens: Vec<TokenWithSpan>) -> Result<Statement> {
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

pub(super) fn expect_end(p: &mut Parser) -> Result<()> {
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
        // KDA's niladic clock functions that sqlparser reads as names.
        Expr::Identifier(id)
            if id.quote_style.is_none()
                && NILADIC_FUNCTIONS
                    .iter()
                    .any(|f| id.value.eq_ignore_ascii_case(f)) =>
        {
            *e = clock_call(id.value.to_lowercase(), id.span);
        }
        // The clock functions get the row's ROWTIME (see
        // `functions::clock`: a row is never output before its ROWTIME).
        Expr::Function(Function {
            name,
            args: args @ FunctionArguments::None,
            ..
        }) if CLOCK_FUNCTIONS
            .iter()
            .any(|f| name.to_string().eq_ignore_ascii_case(f)) =>
        {
            *args = rowtime_argument();
            normalize_function_name(name);
        }
        Expr::Identifier(id) => upper(id),
        Expr::CompoundIdentifier(ids) => ids.iter_mut().for_each(upper),
        Expr::Function(Function { name, .. }) => normalize_function_name(name),
        _ => {}
    }
}

/// Unquoted function names are lower-cased (DataFusion's registry is).
/// KDA's boolean aggregates take DataFusion's names: ANY (and SOME) is
/// `bool_or`, EVERY is `bool_and`.
fn normalize_function_name(name: &mut ObjectName) {
    let single = name.0.len() == 1;
    for part in name.0.iter_mut() {
        if let ObjectNamePart::Identifier(id) = part
            && id.quote_style.is_none()
        {
            id.value = id.value.to_lowercase();
            if single {
                match id.value.as_str() {
                    "any" | "some" => id.value = "bool_or".into(),
                    "every" => id.value = "bool_and".into(),
                    _ => {}
                }
            }
        }
    }
}

/// Functions KDA calls without parentheses that `sqlparser` does not
/// already parse as calls (its CURRENT_TIMESTAMP, CURRENT_DATE,
/// CURRENT_TIME, LOCALTIME and LOCALTIMESTAMP are calls).
const NILADIC_FUNCTIONS: [&str; 1] = ["CURRENT_ROW_TIMESTAMP"];

/// KDA's clock functions, written without an argument list.
const CLOCK_FUNCTIONS: [&str; 6] = [
    "CURRENT_ROW_TIMESTAMP",
    "CURRENT_TIMESTAMP",
    "LOCALTIMESTAMP",
    "CURRENT_DATE",
    "CURRENT_TIME",
    "LOCALTIME",
];

/// The argument list `("ROWTIME")`.
fn rowtime_argument() -> FunctionArguments {
    FunctionArguments::List(FunctionArgumentList {
        duplicate_treatment: None,
        args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(
            Expr::Identifier(Ident::with_quote('"', "ROWTIME")),
        ))],
        clauses: vec![],
    })
}

/// The clock function `name` called on the row's ROWTIME, where the name
/// was written.
fn clock_call(name: String, span: datafusion::sql::sqlparser::tokenizer::Span) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::with_span(span, name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: rowtime_argument(),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

fn upper(id: &mut Ident) {
    if id.quote_style.is_none() {
        id.value = id.value.to_uppercase();
        id.quote_style = Some('"');
    }
}
