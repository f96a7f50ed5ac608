//! The apps a server runs, as the console manages them: started from the
//! `--apps` directories, saved and replaced from the editor, stopped and
//! started again from a chosen position, each watched by an
//! [`AppMonitor`].
//!
//! An app is a directory with `app.sql` and `app.toml`. New apps are
//! written under [`AppRegistry::apps_dir`]. Stopping an app stops it at a
//! checkpoint (as a server's shutdown does), so starting it again from
//! LAST_STOPPED_POINT rebuilds the windows it had open. Lifecycle changes
//! are made one at a time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::editor::{self, Problem};
use super::overview::Rates;
use crate::connect::{self, AppHandle, Services};
use crate::monitor::{AppMonitor, StreamTap};

/// Why a console call failed.
#[derive(Debug)]
pub enum ConsoleError {
    /// No such app, stream or path.
    NotFound(String),
    /// The request is wrong: what is wrong with it.
    BadRequest(String),
    /// The thing to create exists.
    Conflict(String),
    /// The app's SQL or config has problems: nothing was changed.
    Problems(Vec<Problem>),
    /// Something failed on the server: what.
    Internal(String),
}

impl ConsoleError {
    /// A [`ConsoleError::BadRequest`].
    pub fn bad(message: &str) -> Self {
        ConsoleError::BadRequest(message.to_string())
    }
}

/// How an app's run stands.
enum Run {
    Running {
        stop: Arc<AtomicBool>,
        handle: AppHandle,
    },
    Stopped,
    Failed(String),
}

struct ManagedApp {
    dir: PathBuf,
    run: Run,
    /// The monitor of its last run (kept after it stops, for its rows).
    monitor: Option<Arc<AppMonitor>>,
}

/// The server's apps; see the module docs.
pub struct AppRegistry {
    services: Services,
    apps_dir: PathBuf,
    apps: Mutex<BTreeMap<String, ManagedApp>>,
    /// Held while an app is saved, started or stopped.
    lifecycle: Mutex<()>,
}

/// Whether `name` can name an app (and its directory).
pub fn valid_app_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && name != "."
        && name != ".."
}

impl AppRegistry {
    /// A registry running apps against `services`; new apps go under
    /// `apps_dir`.
    pub fn new(services: Services, apps_dir: PathBuf) -> Self {
        Self {
            services,
            apps_dir,
            apps: Mutex::new(BTreeMap::new()),
            lifecycle: Mutex::new(()),
        }
    }

    /// Where new apps are written.
    pub fn apps_dir(&self) -> &Path {
        &self.apps_dir
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, ManagedApp>> {
        self.apps.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts every app found in `dir` (an app, or a directory of apps);
    /// the first that cannot start is an error.
    pub fn start_found(&self, dir: &Path) -> Result<usize> {
        let found = connect::find_apps(dir)?;
        for path in &found {
            // The name its run checkpoints under, whatever the path's form.
            let name = connect::app_name(path);
            if self.lock().contains_key(&name) {
                bail!(
                    "{}: a second app named {name} (app names must differ across --apps directories)",
                    path.display()
                );
            }
            let stop = Arc::new(AtomicBool::new(false));
            let (handle, monitor) =
                connect::spawn_monitored(path, self.services.clone(), Arc::clone(&stop), None)
                    .with_context(|| format!("app {name}"))?;
            self.lock().insert(
                name,
                ManagedApp {
                    dir: path.clone(),
                    run: Run::Running { stop, handle },
                    monitor: Some(monitor),
                },
            );
        }
        Ok(found.len())
    }

    /// Notes the end of runs that ended on their own (failed).
    fn refresh(apps: &mut BTreeMap<String, ManagedApp>) {
        for app in apps.values_mut() {
            let ended = matches!(&app.run, Run::Running { handle, .. } if handle.is_finished());
            if ended
                && let Run::Running { handle, .. } = std::mem::replace(&mut app.run, Run::Stopped)
            {
                app.run = match handle.join() {
                    Ok(()) => Run::Stopped,
                    Err(e) => Run::Failed(format!("{e:#}")),
                };
            }
        }
    }

    /// The monitors of the apps that have one.
    pub fn monitors(&self) -> Vec<(String, Arc<AppMonitor>)> {
        self.lock()
            .iter()
            .filter_map(|(n, a)| a.monitor.as_ref().map(|m| (n.clone(), Arc::clone(m))))
            .collect()
    }

    /// Every app's summary, by name.
    pub fn summaries(&self, rates: &Rates) -> Vec<Value> {
        let mut apps = self.lock();
        Self::refresh(&mut apps);
        apps.iter().map(|(n, a)| summary(n, a, rates)).collect()
    }

    /// One app, with its SQL, config, streams and graph.
    pub fn detail(&self, name: &str, rates: &Rates) -> Result<Value, ConsoleError> {
        let mut apps = self.lock();
        Self::refresh(&mut apps);
        let app = apps
            .get(name)
            .ok_or_else(|| ConsoleError::NotFound(format!("no app named {name}")))?;
        let mut v = summary(name, app, rates);
        let read = |f: &str| std::fs::read_to_string(app.dir.join(f)).unwrap_or_default();
        v["sql"] = json!(read("app.sql"));
        v["config"] = json!(read("app.toml"));
        let (streams, nodes, edges) = match &app.monitor {
            Some(m) => {
                // A source node's rows are those of the stream it feeds.
                let through = |n: &crate::monitor::Node| -> Option<String> {
                    if n.counted() {
                        return Some(n.id.clone());
                    }
                    (n.kind == "source")
                        .then(|| m.edges.iter().find(|e| e.from == n.id))
                        .flatten()
                        .map(|e| e.to.clone())
                };
                let nodes: Vec<Value> = m
                    .nodes
                    .iter()
                    .map(|n| {
                        let rate = through(n).map(|id| rates.rate(&app_key(name, &id)));
                        json!({"id": n.id, "kind": n.kind, "label": n.label, "rows_per_s": rate})
                    })
                    .collect();
                (m.stream_names(), nodes, json!(m.edges))
            }
            None => (Vec::new(), Vec::new(), json!([])),
        };
        v["streams"] = json!(streams);
        v["graph"] = json!({"nodes": nodes, "edges": edges});
        Ok(v)
    }

    /// The tap of `stream` of `app`'s current (or last) run.
    pub fn tap(&self, app: &str, stream: &str) -> Result<Arc<StreamTap>, ConsoleError> {
        let apps = self.lock();
        let a = apps
            .get(app)
            .ok_or_else(|| ConsoleError::NotFound(format!("no app named {app}")))?;
        let monitor = a.monitor.as_ref().ok_or_else(|| {
            ConsoleError::NotFound(format!("app {app} has not run, so it has no rows"))
        })?;
        monitor.tap(stream).cloned().ok_or_else(|| {
            ConsoleError::NotFound(format!(
                "app {app} has no stream {stream} (it has {})",
                monitor.stream_names().join(", ")
            ))
        })
    }

    /// Saves `sql` and `config` as app `name` (new, or replacing its
    /// files) once they check clean, and runs it from `start`.
    pub fn save(
        &self,
        name: &str,
        sql: &str,
        config: &str,
        start: &str,
    ) -> Result<(), ConsoleError> {
        if !valid_app_name(name) {
            return Err(ConsoleError::bad(&format!(
                "app name {name:?}: use 1 to 64 letters, digits, '_', '.' or '-'"
            )));
        }
        let _one = self.lifecycle.lock().unwrap_or_else(|e| e.into_inner());
        let dir = self
            .lock()
            .get(name)
            .map(|a| a.dir.clone())
            .unwrap_or_else(|| self.apps_dir.join(name));
        let problems = editor::check(sql, Some(config), &dir);
        if !problems.is_empty() {
            return Err(ConsoleError::Problems(problems));
        }
        let old_sources = std::fs::read_to_string(dir.join("app.toml"))
            .ok()
            .map(|text| kinesis_sources(&text));
        self.stop_locked(name)?;
        // A checkpoint is kept only where its input reads the same stream
        // as before: a position in another stream means nothing.
        let new_sources = kinesis_sources(config);
        for (input, source) in &new_sources {
            let same = old_sources
                .as_ref()
                .and_then(|old| old.get(input))
                .is_some_and(|old| old == source);
            if !same {
                let path = connect::checkpoint_path(&self.services.checkpoint_dir, name, input);
                if path.exists() {
                    std::fs::remove_file(&path).map_err(|e| {
                        ConsoleError::Internal(format!("removing {}: {e}", path.display()))
                    })?;
                }
            }
        }
        let write = |file: &str, text: &str| {
            let path = dir.join(file);
            std::fs::write(&path, text)
                .map_err(|e| ConsoleError::Internal(format!("writing {}: {e}", path.display())))
        };
        std::fs::create_dir_all(&dir)
            .map_err(|e| ConsoleError::Internal(format!("creating {}: {e}", dir.display())))?;
        write("app.sql", sql)?;
        write("app.toml", config)?;
        self.lock().entry(name.to_string()).or_insert(ManagedApp {
            dir,
            run: Run::Stopped,
            monitor: None,
        });
        self.start_locked(name, start)
    }

    /// Stops app `name` at a checkpoint (nothing when it is not running).
    pub fn stop(&self, name: &str) -> Result<(), ConsoleError> {
        let _one = self.lifecycle.lock().unwrap_or_else(|e| e.into_inner());
        self.stop_locked(name)
    }

    /// (Re)starts app `name`, its Kinesis inputs from `start`.
    pub fn start(&self, name: &str, start: &str) -> Result<(), ConsoleError> {
        let _one = self.lifecycle.lock().unwrap_or_else(|e| e.into_inner());
        self.stop_locked(name)?;
        self.start_locked(name, start)
    }

    fn stop_locked(&self, name: &str) -> Result<(), ConsoleError> {
        let running = {
            let mut apps = self.lock();
            let Some(app) = apps.get_mut(name) else {
                return Ok(());
            };
            match std::mem::replace(&mut app.run, Run::Stopped) {
                Run::Running { stop, handle } => Some((stop, handle)),
                other => {
                    app.run = other;
                    None
                }
            }
        };
        if let Some((stop, handle)) = running {
            stop.store(true, Ordering::SeqCst);
            let ended = handle.join();
            if let Some(app) = self.lock().get_mut(name) {
                app.run = match ended {
                    Ok(()) => Run::Stopped,
                    Err(e) => Run::Failed(format!("{e:#}")),
                };
            }
        }
        Ok(())
    }

    fn start_locked(&self, name: &str, start: &str) -> Result<(), ConsoleError> {
        let dir = self
            .lock()
            .get(name)
            .map(|a| a.dir.clone())
            .ok_or_else(|| ConsoleError::NotFound(format!("no app named {name}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let started =
            connect::spawn_monitored(&dir, self.services.clone(), Arc::clone(&stop), Some(start));
        let mut apps = self.lock();
        let Some(app) = apps.get_mut(name) else {
            return Err(ConsoleError::NotFound(format!("no app named {name}")));
        };
        match started {
            Ok((handle, monitor)) => {
                app.run = Run::Running { stop, handle };
                app.monitor = Some(monitor);
            }
            // The app's status says why; the call itself succeeded.
            Err(e) => app.run = Run::Failed(format!("{e:#}")),
        }
        Ok(())
    }

    /// Stops every app at a checkpoint; the errors of those that failed.
    pub fn stop_all(&self) -> Vec<String> {
        let _one = self.lifecycle.lock().unwrap_or_else(|e| e.into_inner());
        let running: Vec<(String, Arc<AtomicBool>, AppHandle)> = {
            let mut apps = self.lock();
            apps.iter_mut()
                .filter_map(|(n, a)| match std::mem::replace(&mut a.run, Run::Stopped) {
                    Run::Running { stop, handle } => Some((n.clone(), stop, handle)),
                    other => {
                        a.run = other;
                        None
                    }
                })
                .collect()
        };
        for (_, stop, _) in &running {
            stop.store(true, Ordering::SeqCst);
        }
        running
            .into_iter()
            .filter_map(|(_, _, handle)| handle.join().err().map(|e| format!("{e:#}")))
            .collect()
    }
}

/// Per in-application input stream of an app.toml, the Kinesis stream it
/// reads (with its endpoint, when remote).
fn kinesis_sources(config: &str) -> BTreeMap<String, (String, Option<String>)> {
    let Ok(config) = sluice_engine::AppConfig::parse(config, "app.toml") else {
        return BTreeMap::new();
    };
    config
        .input
        .iter()
        .filter_map(|i| {
            let stream = i.kinesis_stream.clone()?;
            Some((i.stream.clone(), (stream, i.endpoint.clone())))
        })
        .collect()
}

/// The rates key of the rows through graph node `id` of `app`.
pub fn app_key(app: &str, id: &str) -> String {
    format!("app:{app}:{id}")
}

fn summary(name: &str, app: &ManagedApp, rates: &Rates) -> Value {
    let (status, error) = match &app.run {
        Run::Running { .. } => ("RUNNING", None),
        Run::Stopped => ("STOPPED", None),
        Run::Failed(e) => ("FAILED", Some(e.clone())),
    };
    let running = matches!(app.run, Run::Running { .. });
    let (pumps, rows_per_s, lag) = match &app.monitor {
        Some(m) => {
            let rate = |p: &crate::monitor::PumpInfo| {
                if running {
                    rates.rate(&app_key(name, &format!("pump:{}", p.name)))
                } else {
                    0.0
                }
            };
            let pumps: Vec<Value> = m
                .pumps
                .iter()
                .map(|p| {
                    json!({
                        "name": p.name,
                        "target": p.target,
                        "rows": m.pump_rows(p),
                        "rows_per_s": rate(p),
                    })
                })
                .collect();
            // Rows the app's pumps emit, all together.
            let total: f64 = m.pumps.iter().map(rate).sum();
            (pumps, total, if running { m.input_lag_ms() } else { None })
        }
        None => (Vec::new(), 0.0, None),
    };
    json!({
        "name": name,
        "status": status,
        "error": error,
        "rows_per_s": rows_per_s,
        "input_lag_ms": lag,
        "pumps": pumps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_names() {
        assert!(valid_app_name("filter-1.v2_x"));
        assert!(!valid_app_name(""));
        assert!(!valid_app_name(".."));
        assert!(!valid_app_name("a/b"));
        assert!(!valid_app_name(&"x".repeat(65)));
    }
}
