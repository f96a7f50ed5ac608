//! Loading an application from files: app.sql plus app.toml or case.toml.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use sluice_engine::{AppConfig, Application, Clock, EngineError, ManualClock};

/// What stopped [`LoadedApp::try_build`].
#[derive(Debug)]
pub enum BuildError {
    /// A reference table could not be loaded: why.
    Table(String),
    /// The engine refused the config's inputs or the SQL.
    Engine(EngineError),
}

/// An application as found on disk.
pub struct LoadedApp {
    /// Path of app.sql.
    pub sql_path: PathBuf,
    /// Its text.
    pub sql: String,
    /// Path of the config file, if any.
    pub config_path: Option<PathBuf>,
    /// The config (empty when there is no file).
    pub config: AppConfig,
}

/// Loads APP: an app.sql file, or a directory with app.sql and app.toml or case.toml.
pub fn load_app(path: &Path) -> Result<LoadedApp> {
    let (sql_path, dir) = if path.is_dir() {
        (path.join("app.sql"), path.to_path_buf())
    } else {
        (
            path.to_path_buf(),
            path.parent().map(Path::to_path_buf).unwrap_or_default(),
        )
    };
    if !sql_path.is_file() {
        bail!("{}: no such application file", sql_path.display());
    }
    let sql = std::fs::read_to_string(&sql_path)
        .with_context(|| format!("reading {}", sql_path.display()))?;
    let config_path = ["app.toml", "case.toml"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file());
    let config = match &config_path {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            AppConfig::parse(&text, &p.display().to_string())?
        }
        None => AppConfig::default(),
    };
    Ok(LoadedApp {
        sql_path,
        sql,
        config_path,
        config,
    })
}

impl LoadedApp {
    /// The directory the config's file names are relative to.
    pub fn dir(&self) -> PathBuf {
        self.config_path
            .as_ref()
            .or(Some(&self.sql_path))
            .and_then(|p| p.parent())
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    /// Builds the application, naming the file in located errors.
    pub fn build(&self, clock: Option<Arc<dyn Clock>>) -> Result<Application> {
        self.try_build(clock).map_err(|e| match e {
            BuildError::Table(message) => anyhow::anyhow!(
                "{}: {message}",
                self.config_path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ),
            BuildError::Engine(e) => self.located(e),
        })
    }

    /// Builds the application; what stopped it, unwrapped (the console
    /// shows an engine error at its line and column).
    pub fn try_build(&self, clock: Option<Arc<dyn Clock>>) -> Result<Application, BuildError> {
        // A table that cannot be loaded at all stops the start, naming its
        // URL and the cause; later reloads that fail keep the old rows.
        // One clock for the app and its tables.
        let clock = clock.unwrap_or_else(|| Arc::new(ManualClock::new(0)));
        let tables = sluice_engine::reference::load_all(
            &self.config.reference,
            &self.dir(),
            &sluice_engine::reference::OpenOptions {
                check_interval: Some(std::time::Duration::from_secs(30)),
                clock: Some(Arc::clone(&clock)),
            },
        )
        .map_err(|e| BuildError::Table(e.to_string()))?;
        let inputs = self.config.inputs().map_err(BuildError::Engine)?;
        Application::with_tables(&self.sql, &inputs, &tables, clock).map_err(BuildError::Engine)
    }

    /// `file:line:column: message` for errors in the SQL.
    pub fn located(&self, e: EngineError) -> anyhow::Error {
        match e.location() {
            Some(_) => anyhow::anyhow!("{}:{e}", self.sql_path.display()),
            None => anyhow::Error::new(e),
        }
    }
}
