//! Bringing a KDA application over from its AWS configuration:
//! `sluice import CONFIG --out DIR` writes it as a Sluice app (app.sql and
//! app.toml), and `sluice run --kda-config CONFIG` runs it as it is. The
//! reading and the ARN mapping are `sluice_engine::kda_config`'s.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use sluice_engine::AppConfig;
use sluice_engine::config::ColumnConfig;
use sluice_engine::kda_config::{ArnMap, KdaApplication, read_kda_config};

use crate::load::LoadedApp;

/// The KDA configuration options shared by `import` and `run`.
#[derive(Args, Clone, Default)]
pub struct KdaArgs {
    /// Where the configuration's ARNs (and CloudFormation logical IDs) are
    /// here: a TOML file with [streams."ARN"], [delivery_streams."ARN"] and
    /// [buckets."ARN"] sections (default: a stream ARN is the stream of
    /// that name in Sluice's shard log, a bucket ARN the S3 bucket).
    #[arg(long, value_name = "FILE")]
    pub arn_map: Option<PathBuf>,
    /// The application to take, when the file holds several (a template).
    #[arg(long, value_name = "NAME")]
    pub application: Option<String>,
}

/// Arguments of `sluice import`.
#[derive(Args)]
pub struct ImportArgs {
    /// describe-application output, a CloudFormation template or Terraform
    /// JSON (`*.tf.json`).
    config: PathBuf,
    #[command(flatten)]
    kda: KdaArgs,
    /// The directory to write app.sql and app.toml to.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// The application `args` pick from the KDA configuration file `path`.
fn pick(path: &Path, args: &KdaArgs) -> Result<(KdaApplication, ArnMap)> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {origin}"))?;
    let apps = read_kda_config(&text, &origin)?;
    let names = || {
        apps.iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let app = match &args.application {
        Some(name) => apps
            .iter()
            .find(|a| &a.name == name)
            .cloned()
            .with_context(|| format!("{origin}: no application {name} (it has: {})", names()))?,
        None if apps.len() == 1 => apps[0].clone(),
        None => bail!(
            "{origin}: {} applications ({}): pick one with --application",
            apps.len(),
            names()
        ),
    };
    let map = match &args.arn_map {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            ArnMap::parse(&text, &p.display().to_string())?
        }
        None => ArnMap::default(),
    };
    Ok((app, map))
}

/// The app of a KDA configuration, as `sluice run` loads an app directory
/// (file names relative to the configuration file's directory).
pub fn load_kda(path: &Path, args: &KdaArgs) -> Result<LoadedApp> {
    let (app, map) = pick(path, args)?;
    let (sql, config) = app.to_app(&map)?;
    Ok(LoadedApp {
        sql_path: path.with_file_name(format!("{}.ApplicationCode.sql", app.name)),
        sql,
        config_path: Some(path.to_path_buf()),
        config,
    })
}

/// `sluice import`: writes the app's app.sql and app.toml.
pub fn import(args: ImportArgs) -> Result<ExitCode> {
    let (app, map) = pick(&args.config, &args.kda)?;
    let (sql, config) = app.to_app(&map)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let sql_path = args.out.join("app.sql");
    let toml_path = args.out.join("app.toml");
    std::fs::write(&sql_path, &sql).with_context(|| format!("writing {}", sql_path.display()))?;
    std::fs::write(&toml_path, app_toml(&config, &args.config))
        .with_context(|| format!("writing {}", toml_path.display()))?;
    // What was written must read back as the same configuration.
    let written = std::fs::read_to_string(&toml_path)
        .with_context(|| format!("reading {}", toml_path.display()))?;
    AppConfig::parse(&written, &toml_path.display().to_string())?.inputs()?;
    println!(
        "wrote {} and {} (KDA application {})",
        sql_path.display(),
        toml_path.display(),
        app.name
    );
    Ok(ExitCode::SUCCESS)
}

/// A TOML basic string (JSON's string syntax is one).
fn q(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn line(out: &mut String, key: &str, value: Option<&str>) {
    if let Some(v) = value {
        out.push_str(&format!("{key} = {}\n", q(v)));
    }
}

fn columns(out: &mut String, columns: Option<&Vec<ColumnConfig>>) {
    let Some(columns) = columns else {
        return;
    };
    out.push_str("columns = [\n");
    for c in columns {
        out.push_str(&format!(
            "  {{ name = {}, type = {}",
            q(&c.name),
            q(&c.sql_type)
        ));
        if let Some(m) = &c.mapping {
            out.push_str(&format!(", mapping = {}", q(m)));
        }
        out.push_str(" },\n");
    }
    out.push_str("]\n");
}

/// The app.toml of an imported configuration.
pub fn app_toml(config: &AppConfig, from: &Path) -> String {
    let mut out = format!("# Imported by `sluice import` from {}.\n", from.display());
    line(&mut out, "description", config.description.as_deref());
    for i in &config.input {
        out.push_str("\n[[input]]\n");
        line(&mut out, "stream", Some(&i.stream));
        line(&mut out, "kinesis_stream", i.kinesis_stream.as_deref());
        line(&mut out, "endpoint", i.endpoint.as_deref());
        line(&mut out, "region", i.region.as_deref());
        line(
            &mut out,
            "starting_position",
            i.starting_position.as_deref(),
        );
        line(&mut out, "format", Some(&i.format));
        line(&mut out, "row_path", i.row_path.as_deref());
        line(&mut out, "delimiter", i.delimiter.as_deref());
        line(&mut out, "row_delimiter", i.row_delimiter.as_deref());
        columns(&mut out, i.columns.as_ref());
    }
    for r in &config.reference {
        out.push_str("\n[[reference]]\n");
        line(&mut out, "table", Some(&r.table));
        line(&mut out, "file", Some(&r.file));
        line(&mut out, "format", r.format.as_deref());
        line(&mut out, "delimiter", r.delimiter.as_deref());
        line(&mut out, "row_path", r.row_path.as_deref());
        line(&mut out, "endpoint", r.endpoint.as_deref());
        line(&mut out, "region", r.region.as_deref());
        if r.anonymous {
            out.push_str("anonymous = true\n");
        }
        columns(&mut out, r.columns.as_ref());
    }
    for o in &config.output {
        out.push_str("\n[[output]]\n");
        line(&mut out, "stream", Some(&o.stream));
        line(&mut out, "kinesis_stream", o.kinesis_stream.as_deref());
        line(&mut out, "delivery_stream", o.delivery_stream.as_deref());
        line(&mut out, "endpoint", o.endpoint.as_deref());
        line(&mut out, "region", o.region.as_deref());
        line(&mut out, "format", Some(&o.format));
    }
    out
}
