//! `serve`: the repo's dev server (`x-programs.devserver`) in the
//! foreground, in a pseudo-terminal, once the containers it needs are up.

use super::programs::Selection;
use super::up::{self, UpOptions};
use super::{Error, Event, Observer, Session, Target, context, foreground, programs};
use crate::config::yaml::Pos;
use crate::plan::Plan;
use crate::plan::remote::FetchPolicy;
use crate::supervisor::protocol::ProgramState;
use crate::supervisor::{self, Foreground};
use std::path::PathBuf;

/// The program devservices' `serve` runs.
pub const DEVSERVER: &str = "devserver";

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub target: Target,
    /// Start the default mode's containers first (as `up` does) instead of
    /// refusing when some are not running.
    pub up: bool,
    /// Appended to the dev server's command.
    pub args: Vec<String>,
    pub mirror: Option<String>,
}

/// Why the dev server cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{} declares no `{DEVSERVER}` program to serve", file.display())]
    NoDevserver { file: PathBuf },
    #[error("the `{DEVSERVER}` program's command is empty")]
    EmptyCommand { file: PathBuf, pos: Pos },
    #[error("{} container(s) the dev server needs are not running: {}", .down.len(), .down.join(", "))]
    ContainersDown { down: Vec<String> },
}

impl ServeError {
    pub fn hint(&self) -> Option<String> {
        match self {
            ServeError::NoDevserver { .. } => Some(format!(
                "add it to the config:\n\nx-programs:\n  {DEVSERVER}:\n    command: <your dev server command>"
            )),
            ServeError::EmptyCommand { .. } => None,
            ServeError::ContainersDown { .. } => {
                Some("start them with `devrig up`, or run `devrig serve --up`".to_owned())
            }
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            ServeError::NoDevserver { .. } | ServeError::EmptyCommand { .. } => crate::exit::USAGE,
            ServeError::ContainersDown { .. } => crate::exit::FAILURE,
        }
    }
}

/// Serves the dev server; returns its exit code (128+N when signal N
/// killed it).
pub fn serve(opts: &ServeOptions, observer: &dyn Observer) -> Result<i32, Error> {
    let config = opts.target.load(observer)?;
    let project = config.project().to_owned();
    let Some(program) = config.programs.get(DEVSERVER).cloned() else {
        return Err(ServeError::NoDevserver {
            file: config.file.clone(),
        }
        .into());
    };
    let mut argv = program.runnable()?.argv.clone();
    if argv.is_empty() {
        return Err(ServeError::EmptyCommand {
            file: config.file.clone(),
            pos: program.pos,
        }
        .into());
    }
    argv.extend(opts.args.iter().cloned());

    if opts.up {
        // Exactly what `up` does, so the state file and readiness rules
        // are the same; it fails when something does not get ready.
        up::up(
            &UpOptions {
                target: opts.target.clone(),
                mode: super::DEFAULT_MODE.to_owned(),
                // As a plain `up` would.
                fetch: context::up_policy(false, false),
                mirror: opts.mirror.clone(),
                // It runs here, in the foreground, not under the supervisor.
                programs: Selection::except(DEVSERVER),
                exclude_local: false,
                pull: Default::default(),
            },
            observer,
        )?;
    } else {
        let plan = context::resolve(
            config,
            super::DEFAULT_MODE,
            FetchPolicy::CacheFirst,
            observer,
        )?;
        check_containers(&plan, observer)?;
    }

    let supervised = programs::status(&project)?
        .and_then(|r| r.programs.into_iter().find(|p| p.name == DEVSERVER))
        .is_some_and(|p| {
            matches!(
                p.state,
                ProgramState::Starting | ProgramState::Running | ProgramState::Backoff
            )
        });
    if supervised {
        // Two dev servers would fight over one port: take the supervised
        // one over, as `foreground devserver` does.
        return foreground::hand_off(&project, DEVSERVER, &program, argv, true, observer);
    }
    observer.event(Event::Note(format!(
        "running {} in {}",
        argv.join(" "),
        program.directory.display()
    )));
    Ok(supervisor::run_foreground(&Foreground {
        argv,
        env: program.environment.into_iter().collect(),
        dir: program.directory,
    })?)
}

/// Refuses while a container of the default mode is not running. Without an
/// engine it only warns: a dev server may well do without its containers.
fn check_containers(plan: &Plan, observer: &dyn Observer) -> Result<(), Error> {
    let specs = crate::stack::specs(plan, None);
    if specs.is_empty() {
        return Ok(());
    }
    Session::new()?.block_on(async {
        let engine = match crate::engine::Engine::connect().await {
            Ok(engine) => engine,
            Err(e) => {
                observer.event(Event::Warning(format!(
                    "cannot check the containers of mode {} ({e}); starting the dev server anyway",
                    super::DEFAULT_MODE
                )));
                return Ok(());
            }
        };
        let statuses =
            crate::stack::status::status(&engine, &specs, &context::peek_state().ready).await?;
        let down: Vec<String> = statuses
            .iter()
            .filter(|s| s.state != "running")
            .map(|s| format!("{}/{} ({})", s.project, s.service, s.state))
            .collect();
        if down.is_empty() {
            return Ok(());
        }
        Err(ServeError::ContainersDown { down }.into())
    })
}
