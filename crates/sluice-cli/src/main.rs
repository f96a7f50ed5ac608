//! `sluice`: run, check, test and benchmark KDA SQL applications.
//!
//! - `sluice run APP`: run an app (app.sql, or a directory with app.sql and
//!   app.toml/case.toml) on its inputs, replayed or live;
//! - `sluice import CONFIG --out DIR`: a KDA application's AWS configuration
//!   as a Sluice app (`sluice run --kda-config CONFIG` runs it directly);
//! - `sluice check APP...`: parse, plan and type-check apps, as a CI lint;
//! - `sluice translate --to flink APP`: the app as an Apache Flink SQL
//!   script, or the constructs Flink cannot express the same way;
//! - `sluice test DIR...`: run golden cases (../shared/CASE-FORMAT.md);
//! - `sluice discover FILE|--kds STREAM`: infer an input's schema from
//!   sample records, printed as an `[[input]]` section or AWS InputSchema;
//! - `sluice bench`: the built-in workloads W1 (tumbling) and W2 (sliding),
//!   and (`--mode kds`, `video`, `firehose`) the local Kinesis' benchmarks
//!   against their targets;
//! - `sluice serve`: the local Kinesis (Data Streams, Firehose, Video) on
//!   one port, optionally running apps against it; `sluice kds serve`: the
//!   Kinesis Data Streams API alone;
//! - `sluice video put FILE|-`: send Matroska media through PutMedia.
//!
//! Every command is a thin layer over the library crates: `sluice-engine`
//! and `sluice-testkit` for apps, `sluice-kds`, `sluice-firehose` and
//! `sluice-video` for the services; `connect` wires apps to the services.

mod bench;
mod connect;
mod console;
mod discover;
mod kda;
mod lambda;
mod load;
mod monitor;
mod run;
mod serve;
mod translate;
mod video;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Run Kinesis Data Analytics SQL applications"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run an application on its inputs.
    Run(run::RunArgs),
    /// Write a KDA application's AWS configuration (describe-application
    /// output, a CloudFormation template or Terraform JSON) as a Sluice app:
    /// app.sql and app.toml.
    Import(kda::ImportArgs),
    /// Parse, plan and type-check applications without running them.
    Check {
        /// app.sql files or app directories.
        #[arg(required = true)]
        apps: Vec<PathBuf>,
    },
    /// Translate an application into another engine's SQL (`--to flink`):
    /// the script on stdout; what cannot be translated with the same
    /// meaning on stderr, each construct with its line (exit code 1).
    Translate(translate::TranslateArgs),
    /// Run golden cases and print `N passed, M failed`.
    Test {
        /// Directories holding cases.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Write the emitted rows as the cases' expected files.
        #[arg(long)]
        bless: bool,
    },
    /// Evaluate one KDA SQL scalar expression and print its value as a KDA
    /// literal (what `expressions.tsv` checks compare); or a plain query,
    /// `SELECT expr, .. [FROM (VALUES (..), (..)) AS t(c, ..)] [WHERE ..]`,
    /// and print one line per row, values tab-separated.
    Eval {
        /// The expression, e.g. `STEP(TIMESTAMP '2004-09-27 13:48:23' BY INTERVAL '5' DAY)`,
        /// or the query, e.g. `SELECT UPPER(s) FROM (VALUES ('a'), ('b')) AS t(s)`.
        expression: String,
    },
    /// Infer an input's schema (RecordColumns, row path, delimiters) from
    /// sample records, as KDA's DiscoverInputSchema does; print it as an
    /// [[input]] section of app.toml / case.toml, or with --aws as AWS
    /// InputSchema JSON.
    Discover(discover::DiscoverArgs),
    /// Run the built-in benchmark workloads (W1 tumbling, W2 sliding, ..) and
    /// print rows/s; `--mode kds`, `video`, `firehose`: the local Kinesis'
    /// figures against their targets.
    Bench(bench::BenchArgs),
    /// Serve Kinesis Data Streams, Firehose and Kinesis Video on one port
    /// (and run apps against them with --apps).
    Serve(serve::ServeArgs),
    /// Kinesis Data Streams alone.
    Kds {
        #[command(subcommand)]
        command: KdsCommand,
    },
    /// Kinesis Video Streams clients.
    Video {
        #[command(subcommand)]
        command: video::VideoCommand,
    },
}

#[derive(Subcommand)]
enum KdsCommand {
    /// Serve the Kinesis Data Streams API until SIGTERM/SIGINT.
    Serve(serve::ServerArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Import(args) => kda::import(args),
        Command::Check { apps } => check(&apps),
        Command::Translate(args) => translate::translate(args),
        Command::Test { dirs, bless } => test(&dirs, bless),
        Command::Eval { expression } => eval(&expression),
        Command::Discover(args) => discover::discover(args),
        Command::Bench(args) => bench::bench(args),
        Command::Serve(args) => serve::serve(args),
        Command::Kds {
            command: KdsCommand::Serve(args),
        } => serve::kds_serve(args),
        Command::Video { command } => video::video(command),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sluice: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn check(apps: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let mut bad = 0;
    for path in apps {
        match load::load_app(path).and_then(|app| app.build(None).map(|_| ())) {
            Ok(()) => println!("OK {}", path.display()),
            Err(e) => {
                bad += 1;
                println!("{e:#}");
            }
        }
    }
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Prints an expression's value, or a plain query's rows (one line each,
/// values tab-separated), as KDA literals.
fn eval(text: &str) -> anyhow::Result<ExitCode> {
    use sluice_testkit::expressions::literal;
    if !sluice_engine::is_plain_query(text) {
        let value = sluice_engine::evaluate_scalar(text)?;
        println!("{}", literal(&value));
        return Ok(ExitCode::SUCCESS);
    }
    let rows = sluice_engine::evaluate_query(text)?;
    let mut out = std::io::stdout().lock();
    for r in 0..rows.num_rows() {
        let line: Vec<String> = rows
            .columns()
            .iter()
            .map(|c| literal(&c.slice(r, 1)))
            .collect();
        writeln!(out, "{}", line.join("\t"))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn test(dirs: &[PathBuf], bless: bool) -> anyhow::Result<ExitCode> {
    let bless = bless || std::env::var("SLUICE_BLESS").is_ok_and(|v| v == "1");
    let cases = sluice_testkit::find_cases(dirs)?;
    let (mut passed, mut failed) = (0, 0);
    for dir in cases {
        let o = sluice_testkit::run_case(&dir, bless);
        passed += o.passed;
        failed += o.failures.len();
        match o.failures.first() {
            None => println!("PASS {}", o.name),
            Some(first) => {
                println!("FAIL {}: {first}", o.name);
                for more in o.failures.iter().skip(1) {
                    println!("     {more}");
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
