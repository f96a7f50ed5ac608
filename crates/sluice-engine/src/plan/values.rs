//! VALUES as a table: `(VALUES (1, 'a'), (2, 'b')) AS t(n, s)` in FROM or
//! JOIN.
//!
//! A VALUES table is constant: its rows are the values of its rows, each
//! evaluated once at plan time with the KDA function library
//! ([`Planner::values_table`]). In an application it is joined with a
//! stream exactly as a reference table is: `subquery::hoist` names it
//! (`<PUMP>$<n>`, the name a hidden stream would take) and the planner adds
//! it to the application's tables ([`TableDecl`] with its rows), so the
//! stream-to-table join (`ops/join.rs`) runs it. It is no stream (it has no
//! ROWTIME), so a pump cannot read it alone. `sluice eval` reads it as the
//! FROM of a plain query (`plan::eval`).
//!
//! Columns follow SQL's rules for VALUES: they are named by the alias's
//! column list (`AS t(n, s)`), else `EXPR$0`, `EXPR$1`, ...; every row gives
//! one value per column; a column's type is the one all its rows' values
//! unify to (numbers of any kind to the widest, strings to VARCHAR,
//! date/time values only with their own kind), and a column of NULLs alone
//! has no type (CAST one of them). A log parser's ROW in a VALUES column
//! `R` becomes one column per field, `R.COLUMN1`, ..., so `t.r."COLUMN1"`
//! reads a field as it does from a subquery.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::sql::sqlparser::ast::{Expr, Query, SetExpr, TableAlias, Value};

use super::select::{row_call, row_field_expr};
use super::subquery::span_location;
use super::types::{StreamColumn, TableDecl};
use super::{Planner, df_err, expr_location, sql_type_name};
use crate::error::{EngineError, Location, Result};
use crate::sql::kda_name;
use crate::types::{SqlType, TypeFamily};

/// One row's values, one expression per column.
type ValuesRow = Vec<Expr>;

/// A column's name, with where it is written.
type ColumnName = (String, Location);

/// A `(VALUES ..)` in FROM / JOIN as written: its rows and column names.
#[derive(Debug, Clone)]
pub(crate) struct ValuesDecl {
    /// The name the planner gives the table (`<PUMP>$<n>`).
    pub(super) name: String,
    /// Each row's values, with where the row starts.
    rows: Vec<(ValuesRow, Location)>,
    /// Column names from the alias (`AS t(n, s)`), else `EXPR$<i>`.
    columns: Vec<ColumnName>,
    /// Where the VALUES starts.
    pub(super) at: Location,
}

impl ValuesDecl {
    /// The VALUES `subquery` (its body is `SetExpr::Values`) named `name`.
    /// Fails on a row with another number of values than the first (naming
    /// the row, at its line) or an alias naming another number of columns.
    pub(crate) fn new(
        name: String,
        subquery: &Query,
        alias: Option<&TableAlias>,
        at: Location,
    ) -> Result<Self> {
        let SetExpr::Values(values) = subquery.body.as_ref() else {
            return Err(EngineError::Plan {
                location: at,
                message: "expected VALUES (...), (...)".into(),
            });
        };
        if subquery.with.is_some()
            || subquery.order_by.is_some()
            || subquery.limit_clause.is_some()
            || subquery.fetch.is_some()
        {
            return Err(EngineError::Unsupported {
                location: at,
                what: "WITH, ORDER BY, LIMIT or FETCH on VALUES".into(),
            });
        }
        let rows: Vec<(ValuesRow, Location)> = values
            .rows
            .iter()
            .map(|r| {
                let start = r.opening_token.0.span.start;
                (r.content.clone(), span_location(start, at))
            })
            .collect();
        let Some(width) = rows.first().map(|(r, _)| r.len()) else {
            return Err(EngineError::Plan {
                location: at,
                message: "VALUES without rows".into(),
            });
        };
        for (i, (row, row_at)) in rows.iter().enumerate().skip(1) {
            if row.len() != width {
                return Err(EngineError::Plan {
                    location: *row_at,
                    message: format!(
                        "row {} of VALUES (line {}) has {} values, but row 1 has {width}: every row of a VALUES table gives one value per column",
                        i + 1,
                        row_at.line,
                        row.len()
                    ),
                });
            }
        }
        let columns: Vec<ColumnName> = match alias.filter(|a| !a.columns.is_empty()) {
            Some(a) => {
                if a.columns.len() != width {
                    return Err(EngineError::Plan {
                        location: span_location(a.name.span.start, at),
                        message: format!(
                            "the alias {} names {} columns, but the VALUES rows have {width} values",
                            kda_name(&a.name),
                            a.columns.len()
                        ),
                    });
                }
                a.columns
                    .iter()
                    .map(|c| (kda_name(&c.name), span_location(c.name.span.start, at)))
                    .collect()
            }
            None => (0..width).map(|i| (format!("EXPR${i}"), at)).collect(),
        };
        for (i, (c, c_at)) in columns.iter().enumerate() {
            if let Some((_, first)) = columns[..i].iter().find(|(d, _)| d == c) {
                return Err(EngineError::Duplicate {
                    location: *c_at,
                    kind: "column",
                    name: c.clone(),
                    first: *first,
                });
            }
        }
        Ok(Self {
            name,
            rows,
            columns,
            at,
        })
    }

    /// The columns and rows with each ROW column taken apart into its
    /// fields (`R.COLUMN1`, ...): a field a row's ROW lacks is NULL there.
    fn expand_rows(&self) -> Result<(Vec<ColumnName>, Vec<ValuesRow>)> {
        let mut columns = Vec::new();
        // Per output column: per row, its value.
        let mut by_column: Vec<Vec<Expr>> = Vec::new();
        for (j, (name, name_at)) in self.columns.iter().enumerate() {
            let calls: Vec<Option<(String, &datafusion::sql::sqlparser::ast::Function)>> =
                self.rows.iter().map(|(r, _)| row_call(&r[j])).collect();
            if calls.iter().all(Option::is_none) {
                columns.push((name.clone(), *name_at));
                by_column.push(self.rows.iter().map(|(r, _)| r[j].clone()).collect());
                continue;
            }
            // A ROW column: every row's value is a log parser's call.
            let mut field_names: Vec<String> = Vec::new();
            let mut per_row: Vec<Vec<(String, Expr)>> = Vec::new();
            for ((row, row_at), call) in self.rows.iter().zip(&calls) {
                let Some((fname, call)) = call else {
                    return Err(EngineError::Plan {
                        location: expr_location(&row[j], *row_at),
                        message: format!(
                            "column {name} of VALUES holds ROW values (a log parser's result) in some rows and other values here: every row's value must be a ROW"
                        ),
                    });
                };
                let args: Vec<Expr> = super::function_args(call).into_iter().cloned().collect();
                let fields =
                    crate::functions::log_parse::row_fields(fname, &args).map_err(|message| {
                        EngineError::Plan {
                            location: expr_location(&row[j], *row_at),
                            message,
                        }
                    })?;
                let mut values = Vec::new();
                for (k, field) in fields.iter().enumerate() {
                    if !field_names.contains(&field.name) {
                        field_names.push(field.name.clone());
                    }
                    values.push((field.name.clone(), row_field_expr(call, k, field)?));
                }
                per_row.push(values);
            }
            for f in &field_names {
                columns.push((format!("{name}.{f}"), *name_at));
                by_column.push(
                    per_row
                        .iter()
                        .map(|values| {
                            values
                                .iter()
                                .find(|(n, _)| n == f)
                                .map(|(_, e)| e.clone())
                                .unwrap_or_else(|| Expr::value(Value::Null))
                        })
                        .collect(),
                );
            }
        }
        let rows = (0..self.rows.len())
            .map(|i| by_column.iter().map(|c| c[i].clone()).collect())
            .collect();
        Ok((columns, rows))
    }
}

/// A batch of `rows` rows and no columns: what an expression with no
/// input is evaluated over.
pub(super) fn empty_batch(rows: usize, at: Location) -> Result<RecordBatch> {
    RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &RecordBatchOptions::new().with_row_count(Some(rows)),
    )
    .map_err(|e| df_err(at)(e.into()))
}

impl Planner {
    /// Evaluates an expression that reads no column to its value.
    pub(super) fn constant(&self, e: &Expr, at: Location) -> Result<ScalarValue> {
        let phys = self.expr(e, &DFSchema::empty(), at)?;
        let array = phys
            .evaluate(&empty_batch(1, at)?)
            .and_then(|v| v.into_array(1))
            .map_err(df_err(at))?;
        ScalarValue::try_from_array(&array, 0).map_err(df_err(at))
    }

    /// The table a VALUES makes: its columns, typed as their values unify,
    /// and its rows, each value evaluated once.
    pub(crate) fn values_table(&self, v: &ValuesDecl) -> Result<TableDecl> {
        let (names, rows) = v.expand_rows()?;
        let mut values: Vec<Vec<(ScalarValue, Location)>> = vec![Vec::new(); names.len()];
        for (i, (row, (_, row_at))) in rows.iter().zip(&v.rows).enumerate() {
            for (j, e) in row.iter().enumerate() {
                let at = expr_location(e, *row_at);
                let value = self.constant(e, at).map_err(|err| match err {
                    EngineError::Plan { location, message } => EngineError::Plan {
                        location,
                        message: format!(
                            "row {} of VALUES, column {}: {message} (a VALUES row holds values, not columns of a stream)",
                            i + 1,
                            names[j].0
                        ),
                    },
                    other => other,
                })?;
                values[j].push((value, at));
            }
        }
        let mut columns = Vec::with_capacity(names.len());
        let mut fields = Vec::with_capacity(names.len());
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(names.len());
        for ((name, name_at), column) in names.iter().zip(values) {
            let sql_type = unify(name, *name_at, &column)?;
            let target = sql_type.to_arrow();
            let cast = column
                .iter()
                .enumerate()
                .map(|(i, (value, at))| {
                    let cast = if value.is_null() {
                        ScalarValue::try_from(&target)
                    } else {
                        value.cast_to(&target)
                    };
                    cast.map_err(|e| EngineError::Plan {
                        location: *at,
                        message: format!(
                            "row {} of VALUES: {value} does not fit column {name}'s type {}: {}",
                            i + 1,
                            sql_type_name(&target),
                            super::clean_df_message(&e)
                        ),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let array = ScalarValue::iter_to_array(cast).map_err(df_err(*name_at))?;
            fields.push(Field::new(name, target, true));
            arrays.push(array);
            columns.push(StreamColumn::new(name.clone(), sql_type));
        }
        let batch = RecordBatch::try_new_with_options(
            Arc::new(Schema::new(fields)),
            arrays,
            &RecordBatchOptions::new().with_row_count(Some(v.rows.len())),
        )
        .map_err(|e| df_err(v.at)(e.into()))?;
        Ok(TableDecl {
            name: v.name.clone(),
            columns,
            rows: Some(batch),
        })
    }
}

/// The type a VALUES column's values unify to: one family (numbers,
/// strings, booleans, binaries), or one date/time type; numbers widen as
/// DataFusion's UNION does (an integer and a DOUBLE make a DOUBLE).
fn unify(name: &str, at: Location, column: &[(ScalarValue, Location)]) -> Result<SqlType> {
    let mut first: Option<(SqlType, usize)> = None;
    let mut types: Vec<DataType> = Vec::new();
    for (i, (value, value_at)) in column.iter().enumerate() {
        let t = value.data_type();
        if t == DataType::Null {
            continue;
        }
        let Some(s) = SqlType::from_arrow(&t) else {
            return Err(EngineError::Plan {
                location: *value_at,
                message: format!(
                    "row {} of VALUES: a value of type {t} cannot be a column of a table",
                    i + 1
                ),
            });
        };
        match first {
            None => first = Some((s, i)),
            Some((f, fi)) => {
                let fits = match (f.family(), s.family()) {
                    (TypeFamily::Datetime, TypeFamily::Datetime) => f == s,
                    (a, b) => a == b,
                };
                if !fits {
                    return Err(EngineError::Plan {
                        location: *value_at,
                        message: format!(
                            "column {name} of VALUES: row {} is {}, row {} is {}; a column's values must unify to one type (CAST one of them)",
                            fi + 1,
                            sql_type_name(&column[fi].0.data_type()),
                            i + 1,
                            sql_type_name(&t)
                        ),
                    });
                }
            }
        }
        types.push(t);
    }
    let Some((f, _)) = first else {
        return Err(EngineError::Plan {
            location: at,
            message: format!(
                "column {name} of VALUES is NULL in every row, so it has no type: CAST one of them, e.g. CAST(NULL AS INTEGER)"
            ),
        });
    };
    if f.family() != TypeFamily::Numeric {
        // Strings, booleans, binaries and one date/time type: one SQL type.
        return Ok(f);
    }
    datafusion::logical_expr::type_coercion::binary::type_union_resolution(&types)
        .and_then(|t| SqlType::from_arrow(&t))
        .ok_or_else(|| EngineError::Plan {
            location: at,
            message: format!("column {name} of VALUES: its numbers do not unify to one type"),
        })
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Float64Type;

    use super::*;
    use crate::clock::SystemClock;

    fn table(sql: &str) -> Result<TableDecl> {
        let q = crate::sql::parse_query(&format!("SELECT * FROM {sql}"))?;
        let SetExpr::Select(select) = q.body.as_ref() else {
            panic!("a SELECT");
        };
        let datafusion::sql::sqlparser::ast::TableFactor::Derived {
            subquery, alias, ..
        } = &select.from[0].relation
        else {
            panic!("a derived table");
        };
        let decl = ValuesDecl::new("V".into(), subquery, alias.as_ref(), Location::new(1, 15))?;
        Planner::new(Arc::new(SystemClock)).values_table(&decl)
    }

    #[test]
    fn column_types_unify_over_the_rows() {
        let t = table("(VALUES (1, 'a', NULL), (2.5, 'bc', TRUE)) AS t(n, s, b)").unwrap();
        let types: Vec<SqlType> = t.columns.iter().map(|c| c.sql_type).collect();
        assert_eq!(
            types,
            [
                SqlType::Double,
                SqlType::Varchar(u32::MAX),
                SqlType::Boolean
            ]
        );
        let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["N", "S", "B"]);
        let rows = t.rows.unwrap();
        assert_eq!(rows.num_rows(), 2);
        let n = rows.column(0).as_primitive::<Float64Type>();
        assert_eq!((n.value(0), n.value(1)), (1.0, 2.5));
        assert!(rows.column(2).is_null(0));
    }

    #[test]
    fn unaliased_columns_are_named_like_calcite() {
        let t = table("(VALUES (1, 2))").unwrap();
        let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["EXPR$0", "EXPR$1"]);
    }

    #[test]
    fn ragged_rows_and_mixed_types_are_refused_with_the_row() {
        let e = table("(VALUES (1, 'a'),\n (2)) AS t(n, s)")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("2:2:"), "{e}");
        assert!(
            e.contains("row 2 of VALUES (line 2) has 1 values, but row 1 has 2"),
            "{e}"
        );
        let e = table("(VALUES (1), ('x')) AS t(n)")
            .unwrap_err()
            .to_string();
        assert!(e.contains("row 1 is BIGINT, row 2 is VARCHAR"), "{e}");
        let e = table("(VALUES (NULL), (NULL)) AS t(n)")
            .unwrap_err()
            .to_string();
        assert!(e.contains("NULL in every row"), "{e}");
        let e = table("(VALUES (1, 2)) AS t(n)").unwrap_err().to_string();
        assert!(
            e.contains("names 1 columns, but the VALUES rows have 2"),
            "{e}"
        );
    }

    #[test]
    fn a_row_column_becomes_one_column_per_field() {
        let t = table(
            "(VALUES (REGEX_LOG_PARSE('a b', '(\\w+) (\\w+)')), (REGEX_LOG_PARSE('c d', '(\\w+) (\\w+)'))) AS t(r)",
        )
        .unwrap();
        let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["R.COLUMN1", "R.COLUMN2"]);
        let rows = t.rows.unwrap();
        let second = rows.column(1).as_string::<i32>();
        assert_eq!((second.value(0), second.value(1)), ("b", "d"));
    }
}

#[cfg(test)]
mod app_tests {
    use std::sync::{Arc, Mutex};

    use crate::clock::ManualClock;
    use crate::io::input::{InputSchema, Record, RecordColumn, RecordFormat};
    use crate::io::output::batch_json_lines;
    use crate::runtime::app::{Application, Input};
    use crate::types::SqlType;

    fn run(sql: &str, records: &[&str]) -> crate::error::Result<String> {
        let input = Input {
            stream: "S".into(),
            schema: InputSchema {
                format: RecordFormat::Json {
                    row_path: "$".into(),
                },
                columns: Some(vec![RecordColumn {
                    name: "N".into(),
                    sql_type: SqlType::Integer,
                    mapping: Some("$.n".into()),
                }]),
            },
        };
        let mut app = Application::new(sql, &[input], Arc::new(ManualClock::new(0)))?;
        let out = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&out);
        app.subscribe("O", move |b| {
            sink.lock()
                .expect("lock")
                .push_str(&batch_json_lines(b, false));
        })?;
        let records: Vec<Record> = records
            .iter()
            .enumerate()
            .map(|(i, r)| Record::new(r.as_bytes(), 1_000 * (i as i64 + 1)))
            .collect();
        app.push_records("S", &records)?;
        let text = out.lock().expect("lock").clone();
        Ok(text)
    }

    #[test]
    fn a_values_table_in_a_subquery_joins_its_stream() {
        let out = run(
            "CREATE STREAM O (N INTEGER, L VARCHAR(8));\n\
             CREATE PUMP P AS INSERT INTO O SELECT STREAM q.N, q.L FROM (\n\
               SELECT STREAM s.N, t.L FROM S AS s JOIN (VALUES (1, 'one'), (2, 'two')) AS t (N, L) ON s.N = t.N\n\
             ) AS q;",
            &[r#"{"n": 2}"#, r#"{"n": 3}"#, r#"{"n": 1}"#],
        )
        .unwrap();
        assert_eq!(
            out,
            "{\"N\": 2, \"L\": \"two\"}\n{\"N\": 1, \"L\": \"one\"}\n"
        );
    }

    #[test]
    fn a_log_parsers_row_in_values_is_joined_by_its_fields() {
        let out = run(
            "CREATE STREAM O (N INTEGER, W VARCHAR(8));\n\
             CREATE PUMP P AS INSERT INTO O SELECT STREAM s.N, t.r.COLUMN2 FROM S AS s\n\
               JOIN (VALUES (1, REGEX_LOG_PARSE('a b', '(\\w+) (\\w+)'))) AS t (N, R) ON s.N = t.N;",
            &[r#"{"n": 1}"#],
        )
        .unwrap();
        assert_eq!(out, "{\"N\": 1, \"W\": \"b\"}\n");
    }

    #[test]
    fn a_scalar_subquery_over_values_in_a_pump_is_inlined_for_one_row_only() {
        let out = run(
            "CREATE STREAM O (N INTEGER, W VARCHAR(8));\n\
             CREATE PUMP P AS INSERT INTO O SELECT STREAM N,\n\
               (SELECT UPPER(t.c) FROM (VALUES ('x')) AS t(c)) FROM S\n\
               WHERE N > (SELECT k FROM (VALUES (1)) AS v(k));",
            &[r#"{"n": 1}"#, r#"{"n": 2}"#],
        )
        .unwrap();
        assert_eq!(out, "{\"N\": 2, \"W\": \"X\"}\n");
        let e = run(
            "CREATE STREAM O (N INTEGER);\n\
             CREATE PUMP P AS INSERT INTO O SELECT STREAM\n\
               (SELECT c FROM (VALUES (1), (2)) AS t(c)) FROM S;",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("a scalar subquery over 2 rows of VALUES"), "{e}");
        let e = run(
            "CREATE STREAM O (N INTEGER);\n\
             CREATE PUMP P AS INSERT INTO O SELECT STREAM N FROM S\n\
               WHERE N IN (SELECT N FROM S);",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("3:"), "{e}");
        assert!(e.contains("a subquery in a pump's expression"), "{e}");
    }

    #[test]
    fn a_values_table_first_in_from_is_refused() {
        let e = run(
            "CREATE STREAM O (N INTEGER);\n\
             CREATE PUMP P AS INSERT INTO O SELECT STREAM s.N\n\
               FROM (VALUES (1)) AS t (N) JOIN S AS s ON s.N = t.N;",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("a VALUES table first in FROM"), "{e}");
        // An unknown name never suggests a VALUES table's hidden name.
        let e = run(
            "CREATE STREAM O (N INTEGER);\n\
             CREATE PUMP P AS INSERT INTO O SELECT STREAM s.N\n\
               FROM S AS s JOIN (VALUES (1)) AS t (N) ON s.N = t.N;\n\
             CREATE PUMP Q AS INSERT INTO O SELECT STREAM N FROM \"P$2\";",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(!e.contains("P$1"), "{e}");
    }
}
