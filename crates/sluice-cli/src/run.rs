//! `sluice run`: an application on its inputs, replayed or live.
//!
//! Replay (the default when every input is a file): records are read with
//! their envelopes' arrival times, merged by arrival, and fed as fast as
//! possible, or at the recorded pace with `--pace`. At the end every open
//! window closes. Live (`--live`, or an input `-` for stdin): lines are read
//! as they come, ROWTIME is the system clock, and time advances on its own
//! so windows close on time even when no record comes.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use sluice_engine::config::{InputConfig, InputSource};
use sluice_engine::output::batch_json_lines;
use sluice_engine::{Application, Clock, ERROR_STREAM, ManualClock, Record, SystemClock};
use sluice_testkit::envelope::{read_merged, runs};

use crate::load::load_app;

/// Arguments of `sluice run`.
#[derive(Args)]
pub struct RunArgs {
    /// app.sql, or a directory with app.sql and app.toml / case.toml.
    #[arg(required_unless_present = "kda_config")]
    app: Option<PathBuf>,
    /// Run a KDA application from its AWS configuration instead
    /// (describe-application output, a CloudFormation template or Terraform
    /// JSON; see `sluice import`).
    #[arg(long, value_name = "FILE", conflicts_with = "app")]
    kda_config: Option<PathBuf>,
    #[command(flatten)]
    kda: crate::kda::KdaArgs,
    /// Feed STREAM from FILE (`-` for stdin); overrides the config's file.
    #[arg(long = "input", value_name = "STREAM=FILE")]
    inputs: Vec<String>,
    /// Write STREAM's rows to FILE (`-` for stdout). Default: the app's final
    /// streams to stdout, error_stream to stderr.
    #[arg(long = "output", value_name = "STREAM=FILE")]
    outputs: Vec<String>,
    /// Read inputs live (follow files as they grow), ROWTIME from the system clock.
    #[arg(long)]
    live: bool,
    /// Replay at the recorded pace times this factor (1.0 = real time).
    #[arg(long)]
    pace: Option<f64>,
    /// Include ROWTIME in output rows.
    #[arg(long)]
    rowtime: bool,
    /// For inputs read from Kinesis data streams without an endpoint: the
    /// data directory of the shard log (as `sluice serve --data-dir`, which
    /// must not be running on it); checkpoints are kept there too.
    #[arg(long, default_value = ".sluice")]
    data_dir: PathBuf,
    /// Kinesis (data or video stream) inputs: stop once every stream is
    /// read to its end, closing open windows (default: run until
    /// SIGTERM/SIGINT).
    #[arg(long)]
    drain: bool,
}

fn split_pair(s: &str) -> Result<(String, String)> {
    let (a, b) = s
        .split_once('=')
        .ok_or_else(|| anyhow!("\"{s}\": expected STREAM=FILE"))?;
    Ok((a.to_string(), b.to_string()))
}

type SharedWriter = Arc<Mutex<Box<dyn Write + Send>>>;

pub fn run(args: RunArgs) -> Result<ExitCode> {
    let (loaded, app_path) = match (&args.kda_config, &args.app) {
        (Some(config), _) => (crate::kda::load_kda(config, &args.kda)?, config.clone()),
        (None, Some(_)) if args.kda.arn_map.is_some() || args.kda.application.is_some() => {
            bail!("--arn-map and --application apply to --kda-config")
        }
        (None, Some(app)) => (load_app(app)?, app.clone()),
        (None, None) => bail!("give an APP, or --kda-config FILE"),
    };
    let mut kinesis = false;
    for c in &loaded.config.input {
        match c.source()? {
            InputSource::Kinesis(_) => kinesis = true,
            InputSource::Video(v) if v.is_remote() => kinesis = true,
            InputSource::Video(v) => bail!(
                "{}: [[input]] {} reads the fragments Kinesis Video ingests in the same process (video_stream \"{}\" without an endpoint): run the app with sluice serve --apps, or give the input an endpoint (a sluice serve, e.g. http://127.0.0.1:4567) or a region (Amazon Kinesis Video)",
                app_path.display(),
                c.stream,
                v.name
            ),
            InputSource::Firehose(d) => bail!(
                "{}: [[input]] {} reads the records entering Firehose delivery stream \"{d}\": run the app with sluice serve --apps",
                app_path.display(),
                c.stream
            ),
            InputSource::File(_) => {}
        }
    }
    if kinesis {
        if !args.inputs.is_empty() || !args.outputs.is_empty() || args.live || args.pace.is_some() {
            bail!(
                "{}: this app reads Kinesis streams; --input, --output, --live and --pace apply to file inputs ([[output]] sections name its destinations)",
                app_path.display()
            );
        }
        crate::connect::run_from_kinesis(&loaded, &args.data_dir, args.drain, args.rowtime)?;
        return Ok(ExitCode::SUCCESS);
    }
    let dir = loaded.dir();
    let mut configs: Vec<InputConfig> = loaded.config.input.clone();
    for pair in &args.inputs {
        let (stream, file) = split_pair(pair)?;
        match configs.iter_mut().find(|c| c.stream == stream) {
            Some(c) => c.file = Some(file),
            None => {
                // A stream the SQL declares: JSON lines mapped by name.
                let mut c: InputConfig = sluice_engine::AppConfig::parse(
                    &format!("[[input]]\nstream = {}\n", toml_string(&stream)),
                    "--input",
                )?
                .input
                .remove(0);
                c.file = Some(file);
                configs.push(c);
            }
        }
    }
    let live = args.live || configs.iter().any(|c| c.file.as_deref() == Some("-"));
    let clock: Arc<dyn Clock> = if live {
        Arc::new(SystemClock)
    } else {
        Arc::new(ManualClock::new(0))
    };
    let mut config = loaded.config.clone();
    config.input = configs.clone();
    let loaded = crate::load::LoadedApp { config, ..loaded };
    let mut app = loaded.build(Some(Arc::clone(&clock)))?;

    // Outputs.
    let mut outputs: Vec<(String, String)> = args
        .outputs
        .iter()
        .map(|p| split_pair(p))
        .collect::<Result<_>>()?;
    if outputs.is_empty() {
        let plan = app.plan();
        for (i, s) in plan.streams.iter().enumerate() {
            let written = plan.pumps.iter().any(|p| p.into == i);
            let read = plan.pumps.iter().any(|p| p.reads().contains(&i));
            if written && !read {
                outputs.push((s.name.clone(), "-".into()));
            }
        }
        outputs.push((ERROR_STREAM.into(), "stderr".into()));
    }
    let mut writers: HashMap<String, SharedWriter> = HashMap::new();
    for (stream, file) in &outputs {
        let w: SharedWriter = match writers.get(file) {
            Some(w) => Arc::clone(w),
            None => {
                let w: Box<dyn Write + Send> = match file.as_str() {
                    "-" => Box::new(std::io::stdout()),
                    "stderr" => Box::new(std::io::stderr()),
                    path => {
                        Box::new(File::create(path).with_context(|| format!("creating {path}"))?)
                    }
                };
                let w = Arc::new(Mutex::new(w));
                writers.insert(file.clone(), Arc::clone(&w));
                w
            }
        };
        let rowtime = args.rowtime;
        app.subscribe(stream, move |batch| {
            if let Ok(mut w) = w.lock() {
                let _ = w.write_all(batch_json_lines(batch, rowtime).as_bytes());
                let _ = w.flush();
            }
        })
        .map_err(|e| anyhow!("--output {stream}: {e}"))?;
    }

    if live {
        run_live(&mut app, &configs, &dir)?;
    } else {
        run_replay(&mut app, &configs, &dir, args.pace)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn toml_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn run_replay(
    app: &mut Application,
    configs: &[InputConfig],
    dir: &std::path::Path,
    pace: Option<f64>,
) -> Result<()> {
    if let Some(c) = configs.iter().find(|c| c.file.is_none()) {
        bail!(
            "input \"{}\" has no file: give --input {}=FILE",
            c.stream,
            c.stream
        );
    }
    let records = read_merged(dir, configs)?;
    let started = std::time::Instant::now();
    let first = records.first().map_or(0, |(_, r)| r.arrival_ms);
    // Paced replays feed record by record, each at its recorded time.
    let max = if pace.is_some() { 1 } else { 8192 };
    for run in runs(&records, max) {
        let (input, head) = &records[run.start];
        if let Some(f) = pace.filter(|f| *f > 0.0) {
            let due = Duration::from_secs_f64((head.arrival_ms - first).max(0) as f64 / 1000.0 / f);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        let batch: Vec<Record> = records[run].iter().map(|(_, r)| r.record()).collect();
        app.push_records(&configs[*input].stream, &batch)?;
    }
    app.flush()?;
    Ok(())
}

fn run_live(app: &mut Application, configs: &[InputConfig], dir: &std::path::Path) -> Result<()> {
    let (tx, rx) = mpsc::channel::<(usize, Option<String>)>();
    let mut open = 0;
    for (i, c) in configs.iter().enumerate() {
        let Some(file) = c.file.clone() else {
            bail!(
                "input \"{}\" has no file: give --input {}=FILE",
                c.stream,
                c.stream
            );
        };
        let tx = tx.clone();
        let path = dir.join(&file);
        open += 1;
        std::thread::spawn(move || {
            let follow = file != "-";
            let reader: Box<dyn BufRead> = if follow {
                match File::open(&path) {
                    Ok(f) => Box::new(BufReader::new(f)),
                    Err(e) => {
                        eprintln!("sluice: {}: {e}", path.display());
                        let _ = tx.send((i, None));
                        return;
                    }
                }
            } else {
                Box::new(BufReader::new(std::io::stdin()))
            };
            follow_lines(reader, follow, |line| tx.send((i, Some(line))).is_ok());
            let _ = tx.send((i, None));
        });
    }
    drop(tx);
    while open > 0 {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok((i, Some(line))) => {
                app.push_records_now(&configs[i].stream, &[line.as_bytes()])?;
            }
            Ok((_, None)) => open -= 1,
            Err(mpsc::RecvTimeoutError::Timeout) => app.tick()?,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    app.flush()?;
    Ok(())
}

/// Calls `f` with each line; when `follow`, waits for more at end of file.
fn follow_lines(mut r: Box<dyn BufRead>, follow: bool, mut f: impl FnMut(String) -> bool) {
    let mut buf = String::new();
    loop {
        match r.read_line(&mut buf) {
            Ok(0) if follow => std::thread::sleep(Duration::from_millis(100)),
            Ok(0) | Err(_) => return,
            Ok(_) if buf.ends_with('\n') => {
                let line = buf.trim_end_matches(['\n', '\r']).to_string();
                buf.clear();
                if !line.trim().is_empty() && !f(line) {
                    return;
                }
            }
            Ok(_) => {
                if !follow {
                    let line = std::mem::take(&mut buf);
                    if !line.trim().is_empty() {
                        f(line);
                    }
                    return;
                }
            }
        }
    }
}
