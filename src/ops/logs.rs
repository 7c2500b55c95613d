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
    sink.sources(&names.iter().chain(&programs).cloned().collect::<Vec<_>>());
    let session = Session::interruptible()?;
    session.block_on(async {
        let engine = if names.is_empty() {
            None
        } else {
            Some(context::engine(observer).await?)
        };
        let containers = match &engine {
            Some(engine) => crate::stack::logs::stream(engine, &names, opts.follow, opts.tail),
            None => stream::empty().boxed(),
        };
        let program_streams = logs
            .into_iter()
            .map(|(name, path)| program_stream(name, path, opts.follow, opts.tail));
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

/// A program's log: its last lines, then (when following) each new line,
/// across rotations.
fn program_stream(
    name: String,
    path: PathBuf,
    follow: bool,
    tail: Option<usize>,
) -> BoxStream<'static, Line> {
    let (past, follower) = if follow {
        match logfile::tail_then_follow(&path, tail) {
            Ok((past, follower)) => (past, Some(follower)),
            Err(_) => (Vec::new(), None),
        }
    } else {
        (logfile::tail(&path, tail).unwrap_or_default(), None)
    };
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
