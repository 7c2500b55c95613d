//! The CLI's use of the program supervisor: start a plan's programs after
//! its containers, report them, stop them. Shared by `up`, `down`,
//! `status`, `serve`, `foreground` and `toggle`.

use super::{CmdResult, exit};
use crate::plan::Plan;
use crate::supervisor::client::{self, ClientError, Report};
use crate::supervisor::daemon;
use crate::supervisor::protocol::{ProgramSpec, ProgramState, ProgramStatus, Request};
use crate::ui::{Diagnostic, Printer};
use std::time::{Duration, Instant};

pub fn client_error(e: &ClientError) -> Diagnostic {
    let hint = match e {
        ClientError::NotReady { log, .. } | ClientError::Io { socket: log, .. } => Some(format!(
            "the supervisor's own log may say why: {}",
            log.display()
        )),
        _ => None,
    };
    Diagnostic::new(e.to_string(), exit::FAILURE).hint(hint)
}

/// Starts the plan's programs (the top-level repo's, as devservices does),
/// except `skip`, and waits until each has either lasted its `startsecs` or
/// failed. A program that gave up is an error; one still retrying is a
/// warning pointing at its log.
///
/// Programs in `already` were started earlier (as soon as what they need
/// was ready): they are waited for and reported, not started again.
pub fn start(printer: &Printer, plan: &Plan, skip: &[String], already: &[String]) -> CmdResult {
    let specs = specs(plan, skip);
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
                .map(|n| daemon::backoff(u32::try_from(n).unwrap_or(u32::MAX)))
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
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut fatal = Vec::new();
    for program in report.programs.iter().filter(|p| names.contains(&p.name)) {
        match program.state {
            ProgramState::Running | ProgramState::Starting => printer.status(
                "Running",
                &match program.pid {
                    Some(pid) => format!("{} (pid {pid})", program.name),
                    None => program.name.clone(),
                },
            ),
            ProgramState::Exited => printer.status(
                "Exited",
                &format!(
                    "{} ({})",
                    program.name,
                    program.last_exit.as_deref().unwrap_or("done")
                ),
            ),
            ProgramState::Backoff => printer.warn(&format!(
                "{} {} and is still being restarted; its output: devrig logs {}",
                program.name,
                ended(program),
                program.name
            )),
            ProgramState::Fatal => fatal.push(program),
            // autostart off, or run by `devrig foreground` right now.
            ProgramState::Stopped | ProgramState::Stopping | ProgramState::Foreground => printer
                .status(
                    "Not started",
                    &format!("{} ({})", program.name, program.state.as_str()),
                ),
        }
    }
    if let Some((last, rest)) = fatal.split_last() {
        for p in rest {
            printer.error(&gave_up(p));
        }
        return Err(gave_up(last));
    }
    Ok(())
}

/// Refuses, before anything starts, when a program that is not running yet
/// declares a host port something else holds.
pub fn check_ports(plan: &Plan, skip: &[String]) -> CmdResult {
    let live: Vec<String> = client::request(&plan.root, &Request::Status)
        .map_err(|e| client_error(&e))?
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
        .filter(|p| !skip.contains(p) && !live.contains(p))
        .cloned()
        .collect();
    crate::stack::ports::programs_preflight(plan, &to_check)
        .map_err(|e| super::report::stack_error(&e))
}

/// The supervisor's specs of the plan's programs (the top-level repo's),
/// except `skip`.
pub fn specs(plan: &Plan, skip: &[String]) -> Vec<ProgramSpec> {
    let root = &plan.projects[&plan.root];
    root.programs
        .iter()
        .filter(|name| !skip.contains(name))
        .filter_map(|name| {
            root.config
                .programs
                .get(name)
                .map(|p| client::spec(name, p))
        })
        .collect()
}

/// Hands programs to the project's supervisor, starting one if needed.
pub fn apply(project: &str, programs: Vec<ProgramSpec>) -> CmdResult {
    if programs.is_empty() {
        return Ok(());
    }
    client::ensure(project).map_err(|e| client_error(&e))?;
    client::request(project, &Request::Apply { programs }).map_err(|e| client_error(&e))?;
    Ok(())
}

fn ended(program: &ProgramStatus) -> String {
    match &program.last_exit {
        Some(how) => format!("ended ({how})"),
        None => "ended".to_owned(),
    }
}

fn gave_up(program: &ProgramStatus) -> Diagnostic {
    Diagnostic::new(
        format!(
            "{} {} on every start and was given up on (fatal)",
            program.name,
            ended(program)
        ),
        exit::FAILURE,
    )
    .hint(Some(format!(
        "its output: devrig logs {} (log file {}); fix it and run `devrig up` again",
        program.name,
        program.log.display()
    )))
}

/// A request that must reach a running supervisor.
pub fn ask(project: &str, request: &Request) -> Result<Report, Diagnostic> {
    client::request(project, request)
        .map_err(|e| client_error(&e))?
        .ok_or_else(|| {
            Diagnostic::new(
                format!("no supervisor is running for {project}"),
                exit::FAILURE,
            )
            .hint(Some("start the programs with `devrig up`".to_owned()))
        })
}

/// Stops every program of `project` and its supervisor. Returns what was
/// running, empty when no supervisor was.
pub fn shutdown(project: &str) -> Result<Vec<ProgramStatus>, Diagnostic> {
    let before = client::request(project, &Request::Status).map_err(|e| client_error(&e))?;
    let Some(before) = before else {
        return Ok(Vec::new());
    };
    client::request(project, &Request::Shutdown).map_err(|e| client_error(&e))?;
    // The answer comes once every program's group is gone; the supervisor
    // itself exits right after.
    Ok(before
        .programs
        .into_iter()
        .filter(|p| {
            !matches!(
                p.state,
                ProgramState::Stopped | ProgramState::Exited | ProgramState::Fatal
            )
        })
        .collect())
}

/// `3h 2m`, `5m 3s`, `12s`.
pub fn uptime(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptimes_read_like_durations() {
        assert_eq!(uptime(0), "0s");
        assert_eq!(uptime(59), "59s");
        assert_eq!(uptime(303), "5m 3s");
        assert_eq!(uptime(3 * 3600 + 120 + 5), "3h 2m");
        assert_eq!(uptime(2 * 86_400 + 3600), "2d 1h");
    }
}
