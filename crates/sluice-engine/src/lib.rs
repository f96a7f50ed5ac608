//! Sluice's engine: runs Amazon Kinesis Data Analytics (KDA) SQL applications.
//!
//! Application code (`CREATE STREAM`, `CREATE PUMP ... INSERT INTO ...
//! SELECT STREAM ...`) is parsed ([`sql`]) and planned ([`plan`]) into a
//! graph of in-application streams and pumps; pumps run as operators over
//! Arrow record batches ([`ops`]), with DataFusion evaluating expressions
//! and aggregates ([`functions`] is the KDA function library). Records are
//! decoded and rows encoded in [`io`]; the [`runtime`] routes rows between
//! streams. Every stream carries ROWTIME; time comes only from an
//! injected [`Clock`], so replays are deterministic. Rows that fail go to
//! `error_stream` ([`errors`]).
//!
//! Imports run one way: `runtime` → `ops` → `plan` → `sql`; `io` is used
//! by the runtime. `clock`, `config`, `error`, `errors`, `reference` and
//! `types` are small and shared, so they sit at the top.
//!
//! The entry point is [`Application`]: build it from SQL text and
//! [`Input`]s, push records, advance time, receive rows.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use sluice_engine::{Application, Input, InputSchema, ManualClock, Record, RecordColumn,
//!     RecordFormat, SqlType, output::batch_json_lines};
//!
//! let sql = r#"
//!     CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (TICKER VARCHAR(4), N BIGINT);
//!     CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
//!       SELECT STREAM TICKER, COUNT(*) FROM "SOURCE_SQL_STREAM_001"
//!       GROUP BY TICKER, STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' MINUTE);
//! "#;
//! let input = Input {
//!     stream: "SOURCE_SQL_STREAM_001".into(),
//!     schema: InputSchema {
//!         format: RecordFormat::Json { row_path: "$".into() },
//!         columns: Some(vec![RecordColumn {
//!             name: "TICKER".into(),
//!             sql_type: SqlType::Varchar(4),
//!             mapping: Some("$.ticker".into()),
//!         }]),
//!     },
//! };
//! let clock = ManualClock::new(0);
//! let mut app = Application::new(sql, &[input], Arc::new(clock.clone()))?;
//! let rows = Arc::new(Mutex::new(String::new()));
//! let sink = Arc::clone(&rows);
//! app.subscribe("DESTINATION_SQL_STREAM", move |batch| {
//!     sink.lock().unwrap().push_str(&batch_json_lines(batch, true));
//! })?;
//! app.push_records("SOURCE_SQL_STREAM_001", &[
//!     Record::new(br#"{"ticker":"AMZN"}"#, 1_000),
//!     Record::new(br#"{"ticker":"AMZN"}"#, 2_000),
//! ])?;
//! app.advance_to(60_000)?; // the first minute's window closes
//! assert_eq!(
//!     rows.lock().unwrap().as_str(),
//!     "{\"ROWTIME\": \"1970-01-01 00:01:00.000\", \"TICKER\": \"AMZN\", \"N\": 2}\n"
//! );
//! # Ok::<(), sluice_engine::EngineError>(())
//! ```

pub mod clock;
pub mod config;
pub mod error;
pub mod errors;
pub mod functions;
pub mod io;
pub mod kda_config;
pub mod ops;
pub mod plan;
pub mod reference;
pub mod runtime;
pub mod sql;
pub mod translate;
pub mod types;

// The modules' paths before `io/` and `runtime/` were folders
// (`sluice_engine::input`, `::output`, `::app`), kept for embedders.
pub use io::{input, output};
pub use runtime::app;

pub use app::{Application, Input, PumpRows};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::AppConfig;
pub use error::{EngineError, Location, Result};
pub use input::{InputSchema, Record, RecordColumn, RecordFormat, RecordMeta};
pub use io::discover::{DiscoverOptions, DiscoveredSchema, SampleFormat, discover_schema};
pub use plan::{
    AppPlan, ERROR_STREAM, ROWTIME, SourceDecl, StreamColumn, TableDecl, evaluate_query,
    evaluate_scalar, is_plain_query,
};
pub use reference::{FixedTable, ReferenceSource, ReferenceTable};
pub use types::SqlType;

/// Arrow, as the engine uses it (DataFusion's version).
pub use datafusion::arrow;
