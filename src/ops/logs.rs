//! `logs`: containers' and programs' output as one stream of lines, each
//! tagged with its source. Containers' output comes from the engine,
//! programs' from their rotated log files (no engine needed for those).

use super::{ContextError, Error, Observer, Session, Target, context, services};
use crate::plan::Plan;
use crate::plan::remote::FetchPolicy;
use crate::stack::logs::Line;
use crate::supervisor::{logfile, paths};
use futures_util::stream::{self, BoxStream, StreamExt};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct LogsOptions {
    pub target: Target,
    /// The mode; the one it runs in (else `default`) when `None`.
    pub mode: Option<String>,
    pub fetch: FetchPolicy,
    /// Services or programs to show; every container of the mode and every
    /// program of the repo when empty.
    pub names: Vec<String>,
    /// Keep going with new output until Ctrl-C.
    pub follow: bool,
    /// Only the last N lines of each source.
    pub tail: Option<usize>,
}

/// Why `logs` cannot show what was asked for.
#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    /// Containers of the plan that the engine does not have: never
    /// started, or removed since.
    #[error("{} {} no container on the engine (not started, or removed)", .containers.join(", "), if .containers.len() == 1 { "has" } else { "have" })]
    NoContainer {
        containers: Vec<String>,
        mode: String,
    },
    /// A program's log exists but cannot be read.
    #[error("cannot read the log of {program} ({}): {source}", .path.display())]
    Unreadable {
        program: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl LogsError {
    pub fn hint(&self) -> Option<String> {
        match self {
            LogsError::NoContainer { containers, mode } => {
                let them = if containers.len() == 1 { "it" } else { "them" };
                let up = if mode == "default" {
                    "devservices up".to_owned()
                } else {
                    format!("devservices up --mode {mode}")
                };
                Some(format!("start {them} with `{up}`"))
            }
            LogsError::Unreadable { .. } => {
                Some("check the file's permissions (devrig's own files are its user's)".to_owned())
            }
        }
    }
}

/// Where the lines go.
pub trait Sink {
    /// Every source, before the first line.
    fn sources(&mut self, names: &[String]);
    /// One line; `false` when no more are wanted (the reader went away).
    fn line(&mut self, line: &Line) -> bool;
}

/// How often a followed program log is checked for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

pub fn logs(opts: &LogsOptions, observer: &dyn Observer, sink: &mut dyn Sink) -> Result<(), Error> {
    let (plan, wanted) = scope(opts, observer)?;
    let root = &plan.projects[&plan.root];
    // A name is a program when the repo declares one by that name.
    let (program_names, service_names): (Vec<String>, Vec<String>) = wanted
        .iter()
        .cloned()
        .partition(|n| root.config.programs.contains_key(n));
    let programs: Vec<String> = if wanted.is_empty() {
        root.programs.clone()
    } else {
        program_names
    };
    let containers = if !wanted.is_empty() && service_names.is_empty() {
        Vec::new()
    } else {
        let specs = crate::stack::specs(&plan, None);
        context::select(specs, &service_names)?
    };
    let names: Vec<String> = containers.iter().map(|s| s.name.clone()).collect();
    let logs: Vec<(String, PathBuf)> = programs
        .iter()
        .map(|p| (p.clone(), paths::program_log(&plan.root, p)))
        .collect();
    // Following waits for a log to appear; a one-off read says there is none.
    if !opts.follow
        && !wanted.is_empty()
        && names.is_empty()
        && logs.iter().all(|(_, path)| !path.exists())
    {
        return Err(super::programs::ProgramError::NoOutput { programs }.into());
    }
    // Each program's lines so far, read now: a log that is there but cannot
    // be read is an error, not silence.
    let mut program_reads = Vec::new();
    for (program, path) in &logs {
        let read = if opts.follow {
            logfile::tail_then_follow(path, opts.tail).map(|(past, f)| (past, Some(f)))
        } else {
            logfile::tail(path, opts.tail).map(|past| (past, None))
        };
        match read {
            Ok((past, follower)) => program_reads.push((program.clone(), past, follower)),
            Err(source) => {
                return Err(LogsError::Unreadable {
                    program: program.clone(),
                    path: path.clone(),
                    source,
                }
                .into());
            }
        }
    }
    let session = Session::interruptible()?;
    session.block_on(async {
        let engine = if names.is_empty() {
            None
        } else {
            Some(context::engine(observer).await?)
        };
        let names = match &engine {
            Some(engine) => {
                let by_name = !wanted.is_empty();
                let other_output = logs.iter().any(|(_, path)| path.exists());
                existing(engine, &plan, names, by_name, other_output).await?
            }
            None => names,
        };
        sink.sources(&names.iter().chain(&programs).cloned().collect::<Vec<_>>());
        let containers = match &engine {
            Some(engine) => crate::stack::logs::stream(engine, &names, opts.follow, opts.tail),
            None => stream::empty().boxed(),
        };
        let program_streams = program_reads
            .into_iter()
            .map(|(name, past, follower)| program_stream(name, past, follower));
        let mut lines = stream::select_all(std::iter::once(containers).chain(program_streams));
        loop {
            let line = tokio::select! {
                line = lines.next() => line,
                _ = session.cancel().cancelled() => None,
            };
            match line {
                Some(line) if sink.line(&line) => {}
                _ => break,
            }
        }
        Ok(())
    })
}

/// The containers of `names` the engine has. A missing one is an error
/// when it was asked for by name, and so is a mode none of whose
/// containers is there when no program has output either; else it is left
/// out (a container of the mode that was never started has nothing to
/// show).
async fn existing(
    engine: &crate::engine::Engine,
    plan: &Plan,
    names: Vec<String>,
    by_name: bool,
    other_output: bool,
) -> Result<Vec<String>, Error> {
    let projects: Vec<String> = plan.projects.keys().cloned().collect();
    let there: std::collections::HashSet<String> = engine
        .containers(&projects)
        .await?
        .into_iter()
        .map(|c| c.name)
        .collect();
    let (present, missing): (Vec<String>, Vec<String>) =
        names.into_iter().partition(|n| there.contains(n));
    if !missing.is_empty() && (by_name || (present.is_empty() && !other_output)) {
        return Err(LogsError::NoContainer {
            containers: missing,
            mode: plan.mode.clone(),
        }
        .into());
    }
    Ok(present)
}

/// The plan to show and the names of what to show of it. One name that is
/// not a container or program of this repo's plan but a service's
/// (devservices' `logs snuba`, also from outside any repo) is all of that
/// service's output.
fn scope(opts: &LogsOptions, observer: &dyn Observer) -> Result<(Plan, Vec<String>), Error> {
    let here = opts
        .target
        .plan_running(opts.mode.as_deref(), opts.fetch, observer);
    if let ([name], None) = (opts.names.as_slice(), &opts.target.service) {
        let whole_service = match &here {
            Ok(plan) if plan.root.eq_ignore_ascii_case(name) => return Ok((here?, Vec::new())),
            Ok(plan) => !names_a_unit(plan, name),
            Err(Error::Context(ContextError::NoConfig { .. })) => true,
            Err(_) => false,
        };
        if whole_service && let Ok(service) = services::locate(name, observer) {
            let plan = Target::file(service.config_file).plan_running(
                opts.mode.as_deref(),
                opts.fetch,
                observer,
            )?;
            return Ok((plan, Vec::new()));
        }
    }
    Ok((here?, opts.names.clone()))
}

/// Whether `name` is a program, or names a container, of `plan`.
fn names_a_unit(plan: &Plan, name: &str) -> bool {
    plan.projects[&plan.root].config.programs.contains_key(name)
        || context::select(crate::stack::specs(plan, None), &[name.to_owned()]).is_ok()
}

/// A program's log: its last lines, then (with a follower) each new line,
/// across rotations.
fn program_stream(
    name: String,
    past: Vec<String>,
    follower: Option<logfile::Follower>,
) -> BoxStream<'static, Line> {
    let label = name.clone();
    let past = stream::iter(past.into_iter().map(move |text| Line {
        container: label.clone(),
        text,
    }));
    let Some(follower) = follower else {
        return past.boxed();
    };
    let live = stream::unfold(follower, |mut follower| async move {
        loop {
            match follower.poll() {
                Ok(lines) if !lines.is_empty() => return Some((lines, follower)),
                Ok(_) => tokio::time::sleep(FOLLOW_POLL).await,
                Err(_) => return None,
            }
        }
    })
    .flat_map(move |lines| {
        let name = name.clone();
        stream::iter(lines.into_iter().map(move |text| Line {
            container: name.clone(),
            text,
        }))
    });
    past.chain(live).boxed()
}
