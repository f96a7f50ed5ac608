//! `sluice translate --to flink`: an application as an Apache Flink SQL
//! script, printed on stdout; what Flink cannot express the same way is
//! listed on stderr, each construct with its line, and the exit code is 1.
//! The translation is `sluice_engine::translate`'s; this file loads the
//! app and picks the connectors:
//!
//! - `sluice translate --to flink APP [--config app.toml]` or
//!   `--kda-config FILE`: Kinesis / Firehose connectors from the config;
//! - `sluice translate --to flink --case CASE --source-dir SRC --sink-dir
//!   SINK`: the test form the Flink test runner runs (files under SRC,
//!   sinks under SINK, for the streams the case has expected rows of).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use sluice_engine::translate::{Connectors, to_flink};
use sluice_engine::{AppConfig, AppPlan, Input, SourceDecl, SqlType, StreamColumn, TableDecl};

use crate::kda::{KdaArgs, load_kda};
use crate::load::{LoadedApp, load_app};

/// The engines `translate` writes for.
#[derive(Clone, Copy, ValueEnum)]
pub enum Target {
    /// Apache Flink SQL (1.20 / 2.x).
    Flink,
}

/// Arguments of `sluice translate`.
#[derive(Args)]
pub struct TranslateArgs {
    /// The engine to translate for.
    #[arg(long, value_enum)]
    to: Target,
    /// app.sql, or a directory holding app.sql and app.toml / case.toml.
    #[arg(conflicts_with_all = ["case", "kda_config"])]
    app: Option<PathBuf>,
    /// The app's configuration (instead of the app.toml beside it).
    #[arg(long, value_name = "FILE", requires = "app")]
    config: Option<PathBuf>,
    /// A KDA application's AWS configuration (as `sluice run --kda-config`).
    #[arg(long, value_name = "FILE", conflicts_with = "case")]
    kda_config: Option<PathBuf>,
    #[command(flatten)]
    kda: KdaArgs,
    /// A case directory: translate its app with file sources and sinks.
    #[arg(long, value_name = "DIR", requires_all = ["source_dir", "sink_dir"])]
    case: Option<PathBuf>,
    /// With --case: where the runner puts the inputs and reference tables.
    #[arg(long, value_name = "DIR", requires = "case")]
    source_dir: Option<String>,
    /// With --case: where the sinks write.
    #[arg(long, value_name = "DIR", requires = "case")]
    sink_dir: Option<String>,
}

/// `sluice translate`.
pub fn translate(args: TranslateArgs) -> Result<ExitCode> {
    let Target::Flink = args.to;
    let (app, connectors) = if let Some(case) = &args.case {
        let app = load_app(case)?;
        let expected = case.join("expected");
        let mut sinks = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&expected) {
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "jsonl")
                    && let Some(stem) = p.file_stem()
                {
                    sinks.push(stem.to_string_lossy().into_owned());
                }
            }
        }
        sinks.sort();
        let expects_error_rows = std::fs::read_to_string(expected.join("error_stream.jsonl"))
            .is_ok_and(|t| !t.trim().is_empty());
        let connectors = Connectors::Files {
            source_dir: args.source_dir.clone().unwrap_or_default(),
            sink_dir: args.sink_dir.clone().unwrap_or_default(),
            sinks,
            expects_error_rows,
        };
        (app, connectors)
    } else if let Some(kda) = &args.kda_config {
        (load_kda(kda, &args.kda)?, Connectors::Kinesis)
    } else if let Some(path) = &args.app {
        let mut app = load_app(path)?;
        if let Some(c) = &args.config {
            let text =
                std::fs::read_to_string(c).with_context(|| format!("reading {}", c.display()))?;
            app.config = AppConfig::parse(&text, &c.display().to_string())?;
            app.config_path = Some(c.clone());
        }
        (app, Connectors::Kinesis)
    } else {
        bail!("give APP, --kda-config FILE or --case DIR");
    };
    let plan = plan(&app)?;
    match to_flink(&plan, &app.config, &connectors) {
        Ok(script) => {
            print!("{script}");
            Ok(ExitCode::SUCCESS)
        }
        Err(refusals) => {
            eprintln!(
                "{}: cannot be translated to Flink SQL with the same meaning:",
                app.sql_path.display()
            );
            for r in &refusals.0 {
                eprintln!("  {r}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Plans the app as `sluice run` would, without reading its inputs;
/// reference tables are declared by their configured columns (or, when a
/// table's columns are left out, by loading it).
fn plan(app: &LoadedApp) -> Result<AppPlan> {
    let inputs = app.config.inputs()?;
    let sources: Vec<SourceDecl> = inputs.iter().map(Input::source_decl).collect();
    let declared: Option<Vec<TableDecl>> = app
        .config
        .reference
        .iter()
        .map(|r| {
            let cols = r.columns.as_ref()?;
            let cols = cols
                .iter()
                .map(|c| {
                    SqlType::parse(&c.sql_type)
                        .ok()
                        .map(|t| StreamColumn::new(c.name.clone(), t))
                })
                .collect::<Option<Vec<_>>>()?;
            Some(TableDecl::reference(r.table.clone(), cols))
        })
        .collect();
    let tables = match declared {
        Some(t) => t,
        None => sluice_engine::reference::load_all(
            &app.config.reference,
            &app.dir(),
            &sluice_engine::reference::OpenOptions::default(),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .iter()
        .map(sluice_engine::ReferenceTable::decl)
        .collect(),
    };
    AppPlan::with_tables(&app.sql, &sources, &tables).map_err(|e| app.located(e))
}
