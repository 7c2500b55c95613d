//! The operations' use of a repo's supervisor: start a plan's programs and
//! wait until they settle, check their ports, stop them. Shared by `up`,
//! `down`, `status`, `purge`, `serve`, `foreground` and `toggle`.

use super::{Error, Event, Observer};
use crate::plan::Plan;
use crate::supervisor::client::{self, Report};
use crate::supervisor::machine;
use crate::supervisor::protocol::{ProgramSpec, ProgramState, ProgramStatus, Request};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// What went wrong with a repo's programs.
#[derive(Debug, thiserror::Error)]
pub enum ProgramError {
    #[error("{name} {} on every start and was given up on (fatal)", ended(.last_exit.as_deref()))]
    GaveUp {
        name: String,
        last_exit: Option<String>,
        log: PathBuf,
    },
    #[error("no supervisor is running for {project}")]
    NoSupervisor { project: String },
    #[error("{name} is not running under devrig's supervisor")]
    NotSupervised { name: String },
    #[error("no output recorded yet for {}", .programs.join(", "))]
    NoOutput { programs: Vec<String> },
    #[error("{} declares no program `{name}`", file.display())]
    Unknown {
        name: String,
        file: PathBuf,
        known: Vec<String>,
    },
}

impl ProgramError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            ProgramError::GaveUp { name, log, .. } => format!(
                "its output: devrig logs {name} (log file {}); fix it and run `devrig up` again",
                log.display()
            ),
            ProgramError::NoSupervisor { .. } | ProgramError::NoOutput { .. } => {
                "start the programs with `devrig up`".to_owned()
            }
            ProgramError::NotSupervised { name } => {
                format!("start it with `devrig up` (a mode that lists {name}), then take it over")
            }
            ProgramError::Unknown { known, .. } if known.is_empty() => {
                "declare it under `x-programs`".to_owned()
            }
            ProgramError::Unknown { known, .. } => format!("programs: {}", known.join(", ")),
        })
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            ProgramError::Unknown { .. } => crate::exit::USAGE,
            _ => crate::exit::FAILURE,
        }
    }
}

/// `ended (exit 1)`, or `ended` when how is unknown.
pub fn ended(last_exit: Option<&str>) -> String {
    match last_exit {
        Some(how) => format!("ended ({how})"),
        None => "ended".to_owned(),
    }
}

/// Which of the plan's programs an operation starts.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Left to whoever runs them instead (`serve` runs the dev server).
    pub except: Vec<String>,
}

impl Selection {
    pub fn all() -> Selection {
        Selection::default()
    }

    pub fn except(name: &str) -> Selection {
        Selection {
            except: vec![name.to_owned()],
        }
    }

    fn wants(&self, name: &str) -> bool {
        !self.except.iter().any(|n| n == name)
    }
}

/// Starts the selected programs of the plan (the top-level repo's, as
/// devservices does) and waits until each has either lasted its
/// `startsecs` or failed; each one's settled state goes to `observer`. A
/// program that gave up is an error.
///
/// Programs in `already` were started earlier (as soon as what they need
/// was ready): they are waited for and reported, not started again.
pub fn start(
    plan: &Plan,
    selection: &Selection,
    already: &[String],
    cancel: &CancellationToken,
    observer: &dyn Observer,
) -> Result<(), Error> {
    let specs = specs(plan, selection)?;
    if specs.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    let to_apply: Vec<_> = specs
        .iter()
        .filter(|s| !already.contains(&s.name))
        .cloned()
        .collect();
    // Long enough for every start attempt and the backoffs between them,
    // so `up` can say whether a crashing program recovered or gave up.
    let longest = specs
        .iter()
        .map(|s| {
            let attempts = s.start_retries.min(10) + 1;
            let waits: Duration = (1..attempts)
                .map(|n| machine::backoff(u32::try_from(n).unwrap_or(u32::MAX)))
                .sum();
            Duration::from_secs(s.start_secs * attempts) + waits
        })
        .max()
        .unwrap_or_default();
    apply(&plan.root, to_apply)?;
    let deadline = Instant::now() + longest + Duration::from_secs(2);
    let report = loop {
        let report = ask(&plan.root, &Request::Status)?;
        let settled = report
            .programs
            .iter()
            .filter(|p| names.contains(&p.name))
            // Stopping, in an `up`, is a restart for a changed command.
            .all(|p| {
                !matches!(
                    p.state,
                    ProgramState::Starting | ProgramState::Backoff | ProgramState::Stopping
                )
            });
        if settled || Instant::now() >= deadline {
            break report;
        }
        if cancel.is_cancelled() {
            return Err(Error::Interrupted {
                kept: "the programs started so far keep running; run `up` again to finish",
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut fatal = Vec::new();
    for program in report
        .programs
        .into_iter()
        .filter(|p| names.contains(&p.name))
    {
        if program.state == ProgramState::Fatal {
            fatal.push(
                ProgramError::GaveUp {
                    name: program.name,
                    last_exit: program.last_exit,
                    log: program.log,
                }
                .into(),
            );
        } else {
            observer.event(Event::ProgramSettled(program));
        }
    }
    Error::many(fatal).map_or(Ok(()), Err)
}

/// Refuses, before anything starts, when a selected program that is not
/// running yet declares a host port something else holds.
pub fn check_ports(plan: &Plan, selection: &Selection) -> Result<(), Error> {
    let live: Vec<String> = client::request(&plan.root, &Request::Status)?
        .map(|r| {
            r.programs
                .into_iter()
                .filter(|p| {
                    matches!(
                        p.state,
                        ProgramState::Starting | ProgramState::Running | ProgramState::Stopping
                    )
                })
                .map(|p| p.name)
                .collect()
        })
        .unwrap_or_default();
    let to_check: Vec<String> = plan.projects[&plan.root]
        .programs
        .iter()
        .filter(|p| selection.wants(p) && !live.contains(p))
        .cloned()
        .collect();
    Ok(crate::stack::ports::programs_preflight(plan, &to_check)?)
}

/// The supervisor's specs of the plan's selected programs (the top-level
/// repo's); an error, with where, for one that cannot run in this shell
/// (a `%(ENV_X)s` it uses is unset).
pub fn specs(plan: &Plan, selection: &Selection) -> Result<Vec<ProgramSpec>, Error> {
    let root = &plan.projects[&plan.root];
    root.programs
        .iter()
        .filter(|name| selection.wants(name))
        .filter_map(|name| root.config.programs.get(name).map(|p| (name, p)))
        .map(|(name, p)| Ok(client::spec(name, p.runnable()?)))
        .collect()
}

/// Hands programs to the project's supervisor, starting one if needed.
pub fn apply(project: &str, programs: Vec<ProgramSpec>) -> Result<(), Error> {
    if programs.is_empty() {
        return Ok(());
    }
    client::ensure(project)?;
    client::request(project, &Request::Apply { programs })?;
    Ok(())
}

/// A request that must reach a running supervisor.
pub fn ask(project: &str, request: &Request) -> Result<Report, Error> {
    client::request(project, request)?.ok_or_else(|| {
        ProgramError::NoSupervisor {
            project: project.to_owned(),
        }
        .into()
    })
}

/// What `project`'s supervisor says, `None` when none runs.
pub fn status(project: &str) -> Result<Option<Report>, Error> {
    Ok(client::request(project, &Request::Status)?)
}

/// Stops every program of `project` and its supervisor; each program that
/// was running goes to `observer`.
pub fn shutdown(project: &str, observer: &dyn Observer) -> Result<(), Error> {
    let Some(before) = client::request(project, &Request::Status)? else {
        return Ok(());
    };
    // The answer comes once every program's group is gone; the supervisor
    // itself exits right after.
    client::request(project, &Request::Shutdown)?;
    for program in before.programs.into_iter().filter(|p| {
        !matches!(
            p.state,
            ProgramState::Stopped | ProgramState::Exited | ProgramState::Fatal
        )
    }) {
        observer.event(Event::ProgramStopped {
            project: project.to_owned(),
            name: program.name,
        });
    }
    Ok(())
}

/// The status rows of the plan's programs: the supervisor's, plus the
/// plan's programs it does not run (as stopped), so a missing supervisor
/// reads as such. Also the supervisor's pid, when one runs.
pub fn rows(plan: &Plan) -> Result<(Vec<ProgramStatus>, Option<u32>), Error> {
    let (mut rows, pid) = match status(&plan.root)? {
        Some(r) => (r.programs, Some(r.supervisor_pid)),
        None => (Vec::new(), None),
    };
    for name in &plan.projects[&plan.root].programs {
        if !rows.iter().any(|r| &r.name == name) {
            rows.push(ProgramStatus {
                name: name.clone(),
                state: ProgramState::Stopped,
                pid: None,
                uptime_secs: None,
                started_at: None,
                restarts: 0,
                last_exit: None,
                log: crate::supervisor::paths::program_log(&plan.root, name),
                log_error: None,
            });
        }
    }
    Ok((rows, pid))
}
