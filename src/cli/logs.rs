//! `devrig logs`: containers' and programs' output, multiplexed, one color
//! per source.

use super::context;
use super::{CmdResult, GlobalArgs, exit};
use crate::stack::{self, logs::Line};
use crate::supervisor::{logfile, paths};
use crate::ui::{Diagnostic, Printer};
use clap::Args;
use futures_util::stream::{self, BoxStream, StreamExt};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Services or programs to show (default: every container of the mode
    /// and every program of the repo)
    pub services: Vec<String>,
    /// Keep printing new output
    #[arg(short, long)]
    pub follow: bool,
    /// Only the last N lines of each container or program
    #[arg(long, value_name = "N")]
    pub tail: Option<usize>,
    #[command(flatten)]
    pub plan: context::PlanArgs,
}

/// Colors that read well on dark and light terminals; a source keeps its
/// color from run to run because it is picked from its name.
const PALETTE: &[&str] = &["36", "33", "32", "35", "34", "96", "93", "92", "95", "94"];

fn color_of(name: &str) -> &'static str {
    let hash = name
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    PALETTE[hash as usize % PALETTE.len()]
}

/// How often a followed program log is checked for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

pub fn run(printer: &Printer, global: &GlobalArgs, args: LogsArgs) -> CmdResult {
    let plan = args.plan.plan(printer, global)?;
    let root = &plan.projects[&plan.root];
    // A name is a program when the repo declares one by that name.
    let (program_names, service_names): (Vec<String>, Vec<String>) = args
        .services
        .iter()
        .cloned()
        .partition(|n| root.config.programs.contains_key(n));
    let programs: Vec<String> = if args.services.is_empty() {
        root.programs.clone()
    } else {
        program_names
    };
    let specs = if !args.services.is_empty() && service_names.is_empty() {
        Vec::new()
    } else {
        context::select(args.plan.specs(&plan), &service_names)?
    };
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    let logs: Vec<(String, PathBuf)> = programs
        .iter()
        .map(|p| (p.clone(), paths::program_log(&plan.root, p)))
        .collect();
    // Following waits for a log to appear; a one-off read says there is none.
    if !args.follow
        && !args.services.is_empty()
        && names.is_empty()
        && logs.iter().all(|(_, path)| !path.exists())
    {
        return Err(Diagnostic::new(
            format!("no output recorded yet for {}", programs.join(", ")),
            exit::FAILURE,
        )
        .hint(Some("start the programs with `devrig up`".to_owned())));
    }
    let width = names
        .iter()
        .chain(programs.iter())
        .map(String::len)
        .max()
        .unwrap_or(0);
    let rt = context::runtime()?;
    rt.block_on(async {
        let engine = if names.is_empty() {
            None
        } else {
            Some(context::engine(printer).await?)
        };
        let containers = match &engine {
            Some(engine) => stack::logs::stream(engine, &names, args.follow, args.tail),
            None => stream::empty().boxed(),
        };
        let program_streams = logs
            .into_iter()
            .map(|(name, path)| program_stream(name, path, args.follow, args.tail));
        let mut lines = stream::select_all(std::iter::once(containers).chain(program_streams));
        let mut out = std::io::stdout().lock();
        loop {
            let line = tokio::select! {
                line = lines.next() => line,
                _ = tokio::signal::ctrl_c() => None,
            };
            let Some(line) = line else { break };
            let prefix = format!("{:<width$} |", line.container);
            let prefix = if printer.color {
                format!("\x1b[{}m{prefix}\x1b[0m", color_of(&line.container))
            } else {
                prefix
            };
            if writeln!(out, "{prefix} {}", line.text).is_err() {
                break; // the reader went away (`| head`)
            }
        }
        Ok(())
    })
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
