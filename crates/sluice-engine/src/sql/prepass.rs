//! The KDA token pre-pass: application code split into statements at
//! top-level semicolons, and KDA syntax `sqlparser` lacks (`SELECT STREAM`,
//! `STEP(x BY y)`, windows on joined streams, `WINDOWED BY STAGGER`,
//! `(a - b) SECOND`) rewritten token by token, keeping each token's
//! position.

use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Word};

use crate::error::{EngineError, Location, Result};

/// Splits tokens at top-level semicolons, dropping statements that hold only
/// whitespace and comments.
pub(super) fn split_statements(tokens: Vec<TokenWithSpan>) -> Vec<Vec<TokenWithSpan>> {
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

pub(super) fn is_trivia(t: &Token) -> bool {
    matches!(t, Token::Whitespace(_) | Token::EOF)
}

pub(super) fn is_word(t: &Token, w: &str) -> bool {
    matches!(t, Token::Word(Word { value, quote_style: None, .. }) if value.eq_ignore_ascii_case(w))
}

/// The KDA pre-pass over one statement's tokens (see the module docs).
pub(super) fn kda_prepass(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
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
pub(super) fn table_window_prepass(tokens: Vec<TokenWithSpan>) -> Result<Vec<TokenWithSpan>> {
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
        if is_word(&tokens[i].token, "OVER")
            && k > 0
            && tokens[significant[k - 1]].token == Token::RParen
            && after_from(&tokens, &significant, k - 1)
        {
            return Err(EngineError::Unsupported {
                location: location_of(&tokens[i]),
                what: "a window (OVER) on a subquery in FROM or JOIN; write the subquery's rows to a stream of their own and put OVER on that stream".into(),
            });
        }
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

/// Whether the parenthesis closing at significant token `close` opened right
/// after FROM or JOIN (a subquery in FROM, not a function's arguments).
fn after_from(tokens: &[TokenWithSpan], significant: &[usize], close: usize) -> bool {
    let mut depth = 0i32;
    for m in (0..=close).rev() {
        match &tokens[significant[m]].token {
            Token::RParen => depth += 1,
            Token::LParen => {
                depth -= 1;
                if depth == 0 {
                    return m > 0
                        && (is_word(&tokens[significant[m - 1]].token, "FROM")
                            || is_word(&tokens[significant[m - 1]].token, "JOIN"));
                }
            }
            _ => {}
        }
    }
    false
}

/// The function name `WINDOWED BY STAGGER` is rewritten to (lower-case, as
/// normalized function names are).
pub const STAGGER_FUNCTION: &str = "kda_stagger";

/// Rewrites `WINDOWED BY STAGGER (PARTITION BY keys RANGE interval)` into
/// `GROUP BY kda_stagger(interval), keys`, keeping each token's position.
pub(super) fn stagger_prepass(tokens: Vec<TokenWithSpan>) -> Result<Vec<TokenWithSpan>> {
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

/// Where a token starts.
pub(super) fn location_of(t: &TokenWithSpan) -> Location {
    Location::new(t.span.start.line, t.span.start.column)
}

/// Words that may stand before a parenthesized expression (as opposed to a
/// function or stream name before an argument list).
const GROUP_OPENERS: [&str; 17] = [
    "SELECT", "WHERE", "BY", "AND", "OR", "NOT", "WHEN", "THEN", "ELSE", "CASE", "ON", "HAVING",
    "DISTINCT", "ALL", "IS", "LIKE", "BETWEEN",
];

/// Interval qualifier fields.
const INTERVAL_FIELDS: [&str; 6] = ["YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND"];

/// Rewrites `(<datetime> - <datetime>) <interval qualifier>` (the KDA SQL
/// Reference's datetime difference, e.g. `(ROWTIME - TIMESTAMP '1970-01-01
/// 00:00:00') SECOND`, `MINUTE(4)`, `DAY TO SECOND`) into the call
/// `kda_interval_of(<datetime> - <datetime>, 'FIELD')`, FIELD being the
/// qualifier's last field; the function library takes it from there
/// (`functions::interval`). Only a parenthesized expression (not an
/// argument list) followed by a field name is rewritten.
pub(super) fn interval_qualifier_prepass(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let significant: Vec<usize> = (0..tokens.len())
        .filter(|&i| !is_trivia(&tokens[i].token))
        .collect();
    let field_at = |m: usize| -> Option<&'static str> {
        let t = &tokens[*significant.get(m)?].token;
        INTERVAL_FIELDS.into_iter().find(|f| is_word(t, f))
    };
    // Per significant position: open a call here / replace this `)` by
    // `, 'FIELD')` / drop this token (the qualifier).
    let mut open_call = vec![false; tokens.len()];
    let mut close_with: Vec<Option<&'static str>> = vec![None; tokens.len()];
    let mut drop = vec![false; tokens.len()];
    // Open parentheses: (position in `significant`, a plain group).
    let mut open: Vec<(usize, bool)> = Vec::new();
    for (m, &i) in significant.iter().enumerate() {
        match &tokens[i].token {
            Token::LParen => {
                let plain = match m.checked_sub(1).map(|p| &tokens[significant[p]].token) {
                    None => true,
                    Some(Token::Word(w)) => {
                        w.quote_style.is_none()
                            && GROUP_OPENERS
                                .iter()
                                .any(|g| w.value.eq_ignore_ascii_case(g))
                    }
                    Some(Token::RParen) => false,
                    Some(_) => true,
                };
                open.push((m, plain));
            }
            Token::RParen => {
                let Some((start, plain)) = open.pop() else {
                    continue;
                };
                let Some(mut field) = field_at(m + 1).filter(|_| plain) else {
                    continue;
                };
                let mut end = m + 1;
                // Optional precision: FIELD(p) or FIELD(p, s).
                let skip_precision = |end: usize| -> usize {
                    let is = |k: usize, f: fn(&Token) -> bool| {
                        significant.get(k).is_some_and(|&j| f(&tokens[j].token))
                    };
                    if !is(end + 1, |t| *t == Token::LParen) {
                        return end;
                    }
                    let mut k = end + 2;
                    while is(k, |t| matches!(t, Token::Number(..) | Token::Comma)) {
                        k += 1;
                    }
                    if k > end + 2 && is(k, |t| *t == Token::RParen) {
                        k
                    } else {
                        end
                    }
                };
                end = skip_precision(end);
                if significant
                    .get(end + 1)
                    .is_some_and(|&j| is_word(&tokens[j].token, "TO"))
                    && let Some(last) = field_at(end + 2)
                {
                    field = last;
                    end = skip_precision(end + 2);
                }
                open_call[significant[start]] = true;
                close_with[i] = Some(field);
                for &j in &significant[m + 1..=end] {
                    drop[j] = true;
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::with_capacity(tokens.len() + 4);
    for (i, t) in tokens.into_iter().enumerate() {
        if drop[i] {
            continue;
        }
        if open_call[i] {
            out.push(TokenWithSpan {
                token: Token::make_word("KDA_INTERVAL_OF", None),
                span: t.span,
            });
        }
        if let Some(field) = close_with[i] {
            let span = t.span;
            out.push(TokenWithSpan {
                token: Token::Comma,
                span,
            });
            out.push(TokenWithSpan {
                token: Token::SingleQuotedString(field.to_string()),
                span,
            });
        }
        out.push(t);
    }
    out
}

/// KDA's table functions take their input stream as `CURSOR(SELECT STREAM
/// ...)`: `FN(CURSOR(SELECT ...), args)` becomes `FN((SELECT ...), args)`,
/// a subquery argument `sqlparser` parses, which the planner hoists into a
/// hidden stream (`plan::table_function`). A CURSOR anywhere but as an
/// argument of a function in FROM is refused here, by name.
pub(super) fn cursor_prepass(tokens: Vec<TokenWithSpan>) -> Result<Vec<TokenWithSpan>> {
    let significant: Vec<usize> = (0..tokens.len())
        .filter(|&i| !is_trivia(&tokens[i].token))
        .collect();
    let mut drop = Vec::new();
    for (k, &i) in significant.iter().enumerate() {
        let t = &tokens[i];
        if !is_word(&t.token, "CURSOR")
            || significant
                .get(k + 1)
                .is_none_or(|&n| tokens[n].token != Token::LParen)
        {
            continue;
        }
        // The CURSOR must be an argument: the nearest unclosed `(` to its
        // left opens a function's argument list, itself inside `TABLE(`.
        let mut depth = 0i32;
        let mut open = None;
        for j in (0..k).rev() {
            match &tokens[significant[j]].token {
                Token::RParen => depth += 1,
                Token::LParen if depth > 0 => depth -= 1,
                Token::LParen => {
                    open = Some(j);
                    break;
                }
                _ => {}
            }
        }
        let at = |j: Option<usize>| j.map(|j| &tokens[significant[j]].token);
        let function = open.and_then(|j| j.checked_sub(1));
        let in_table = matches!(at(function), Some(Token::Word(_)))
            && at(function.and_then(|f| f.checked_sub(1))) == Some(&Token::LParen)
            && at(function.and_then(|f| f.checked_sub(2))).is_some_and(|t| is_word(t, "TABLE"));
        if !in_table {
            return Err(EngineError::Unsupported {
                location: location_of(t),
                what: "CURSOR(...) outside a table function's arguments (KDA's form is FROM TABLE(FN(CURSOR(SELECT STREAM ...), ...)))".into(),
            });
        }
        drop.push(i);
    }
    Ok(tokens
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !drop.contains(i))
        .map(|(_, t)| t)
        .collect())
}

/// `SUBSTRING(s SIMILAR p [ESCAPE e])`, which `sqlparser` does not parse,
/// becomes `kda_substring_similar(s, p, e)` (`NULL` for a missing escape),
/// the function library's implementation (`functions::string`).
pub(super) fn substring_similar_prepass(mut tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let significant: Vec<usize> = (0..tokens.len())
        .filter(|&i| !is_trivia(&tokens[i].token))
        .collect();
    let mut inserts: Vec<(usize, TokenWithSpan)> = Vec::new();
    for (k, &i) in significant.iter().enumerate() {
        if !is_word(&tokens[i].token, "SUBSTRING")
            || significant
                .get(k + 1)
                .is_none_or(|&n| tokens[n].token != Token::LParen)
        {
            continue;
        }
        // The call's top-level SIMILAR / ESCAPE words and its closing paren.
        let (mut depth, mut similar, mut escape, mut close) = (0i32, None, None, None);
        for &j in &significant[k + 1..] {
            match &tokens[j].token {
                Token::LParen => depth += 1,
                Token::RParen => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(j);
                        break;
                    }
                }
                t if depth == 1 && is_word(t, "SIMILAR") => similar = Some(j),
                t if depth == 1 && is_word(t, "ESCAPE") => escape = Some(j),
                _ => {}
            }
        }
        let (Some(similar), Some(close)) = (similar, close) else {
            continue;
        };
        tokens[i].token = Token::make_word("kda_substring_similar", None);
        tokens[similar].token = Token::Comma;
        match escape {
            Some(e) => tokens[e].token = Token::Comma,
            None => {
                let span = tokens[close].span;
                inserts.push((
                    close,
                    TokenWithSpan {
                        token: Token::Comma,
                        span,
                    },
                ));
                inserts.push((
                    close,
                    TokenWithSpan {
                        token: Token::make_word("NULL", None),
                        span,
                    },
                ));
            }
        }
    }
    for (at, t) in inserts.into_iter().rev() {
        tokens.insert(at, t);
    }
    tokens
}

/// `TRIM(BOTH | LEADING | TRAILING FROM s)`, which `sqlparser` does not
/// parse without a character, becomes `TRIM(BOTH ' ' FROM s)`: KDA trims
/// spaces by default.
pub(super) fn trim_prepass(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len() + 1);
    // The last two significant tokens seen: TRIM's `(` then the where-word.
    let mut recent: [Option<Token>; 2] = [None, None];
    let mut before: Option<Token> = None;
    for t in tokens {
        if is_trivia(&t.token) {
            out.push(t);
            continue;
        }
        let after_where_word = matches!(&recent[1], Some(w) if ["BOTH", "LEADING", "TRAILING"].iter().any(|k| is_word(w, k)))
            && recent[0] == Some(Token::LParen)
            && before.as_ref().is_some_and(|b| is_word(b, "TRIM"));
        if after_where_word && is_word(&t.token, "FROM") {
            out.push(TokenWithSpan {
                token: Token::SingleQuotedString(" ".into()),
                span: t.span,
            });
        }
        before = recent[0].take();
        recent[0] = recent[1].take();
        recent[1] = Some(t.token.clone());
        out.push(t);
    }
    out
}

/// `NTH_VALUE(x, n) FROM FIRST | FROM LAST`, whose FROM `sqlparser` takes
/// for the query's, becomes `NTH_VALUE(x, n, 'FIRST' | 'LAST')`.
pub(super) fn nth_value_prepass(mut tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let significant: Vec<usize> = (0..tokens.len())
        .filter(|&i| !is_trivia(&tokens[i].token))
        .collect();
    let mut edits: Vec<(usize, usize, usize, String)> = Vec::new();
    for (k, &i) in significant.iter().enumerate() {
        if !is_word(&tokens[i].token, "NTH_VALUE")
            || significant
                .get(k + 1)
                .is_none_or(|&n| tokens[n].token != Token::LParen)
        {
            continue;
        }
        let mut depth = 0i32;
        let mut close = None;
        for (m, &j) in significant.iter().enumerate().skip(k + 1) {
            match tokens[j].token {
                Token::LParen => depth += 1,
                Token::RParen => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(m);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(m) = close else { continue };
        let (Some(&from), Some(&which)) = (significant.get(m + 1), significant.get(m + 2)) else {
            continue;
        };
        if !is_word(&tokens[from].token, "FROM") {
            continue;
        }
        let side = if is_word(&tokens[which].token, "FIRST") {
            "FIRST"
        } else if is_word(&tokens[which].token, "LAST") {
            "LAST"
        } else {
            continue;
        };
        edits.push((significant[m], from, which, side.to_string()));
    }
    for (close, from, which, side) in edits.into_iter().rev() {
        let span = tokens[from].span;
        // Drop FROM FIRST|LAST (and what lies between), then add the argument.
        tokens.drain(from..=which);
        tokens.insert(
            close,
            TokenWithSpan {
                token: Token::SingleQuotedString(side),
                span,
            },
        );
        tokens.insert(
            close,
            TokenWithSpan {
                token: Token::Comma,
                span,
            },
        );
    }
    tokens
}
