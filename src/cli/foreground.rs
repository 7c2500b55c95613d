//! `devrig foreground PROGRAM`: take a supervised program into this
//! terminal (for a debugger or print statements) and hand it back to the
//! supervisor when it exits.

use super::{GlobalArgs, context, exit, programs};
use crate::config::Program;
use crate::supervisor::protocol::{ProgramState, Request};
use crate::supervisor::{self, Foreground, client};
use crate::ui::{Diagnostic, Printer};
use clap::Args;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct ForegroundArgs {
    /// The program (an `x-programs` entry) to run here
    pub program: String,
}

/// Exits with the program's exit code, as `serve` does.
pub fn run(printer: &Printer, global: &GlobalArgs, args: ForegroundArgs) -> ExitCode {
    match foreground(printer, global, args) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(exit::FAILURE)),
        Err(diagnostic) => super::finish(printer, Err(diagnostic)),
    }
}

fn foreground(
    printer: &Printer,
    global: &GlobalArgs,
    args: ForegroundArgs,
) -> Result<i32, Diagnostic> {
    let config = context::load(printer, global)?;
    let project = config.project().to_owned();
    let Some(program) = config.programs.get(&args.program).cloned() else {
        let known: Vec<&str> = config.programs.keys().map(String::as_str).collect();
        return Err(Diagnostic::new(
            format!(
                "{} declares no program `{}`",
                config.file.display(),
                args.program
            ),
            exit::USAGE,
        )
        .hint(Some(if known.is_empty() {
            "declare it under `x-programs`".to_owned()
        } else {
            format!("programs: {}", known.join(", "))
        })));
    };
    let supervised = client::request(&project, &Request::Status)
        .map_err(|e| programs::client_error(&e))?
        .and_then(|r| r.programs.into_iter().find(|p| p.name == args.program));
    let Some(supervised) = supervised else {
        return Err(Diagnostic::new(
            format!("{} is not running under devrig's supervisor", args.program),
            exit::FAILURE,
        )
        .hint(Some(format!(
            "start it with `devrig up` (a mode that lists {}), then take it over",
            args.program
        ))));
    };
    // A program the supervisor holds stopped (autostart off) stays so.
    let hand_back = supervised.state != ProgramState::Stopped;
    hand_off(
        printer,
        &project,
        &args.program,
        &program,
        program.argv.clone(),
        hand_back,
    )
}

/// Stops the supervised `name`, runs `argv` in this terminal, and (when
/// `hand_back`) starts the supervised one again afterwards, whatever the
/// foreground run's outcome.
pub fn hand_off(
    printer: &Printer,
    project: &str,
    name: &str,
    program: &Program,
    argv: Vec<String>,
    hand_back: bool,
) -> Result<i32, Diagnostic> {
    programs::ask(
        project,
        &Request::Stop {
            names: vec![name.to_owned()],
            foreground: Some(std::process::id()),
        },
    )?;
    printer.status("Stopped", &format!("{name} in the supervisor"));
    printer.status(
        "Running",
        &format!("{name} in the foreground: {}", argv.join(" ")),
    );
    let outcome = supervisor::run_foreground(&Foreground {
        argv,
        env: program.environment.clone().into_iter().collect(),
        dir: program.directory.clone(),
    });
    if !hand_back {
        // Off the foreground mark: stopped, as it was.
        programs::ask(
            project,
            &Request::Stop {
                names: vec![name.to_owned()],
                foreground: None,
            },
        )?;
        printer.status("Left", &format!("{name} stopped, as it was before"));
        return outcome.map_err(|e| Diagnostic::new(e.to_string(), exit::FAILURE));
    }
    let back = programs::ask(
        project,
        &Request::Start {
            names: vec![name.to_owned()],
        },
    );
    match back {
        Ok(report) => {
            let pid = report
                .programs
                .iter()
                .find(|p| p.name == name && p.state != ProgramState::Foreground)
                .and_then(|p| p.pid);
            printer.status(
                "Handed back",
                &match pid {
                    Some(pid) => format!("{name} to the supervisor (pid {pid})"),
                    None => format!("{name} to the supervisor"),
                },
            );
        }
        Err(e) => printer.warn(&format!(
            "could not hand {name} back to the supervisor: {}; `devrig up` starts it again",
            e.message
        )),
    }
    outcome.map_err(|e| Diagnostic::new(e.to_string(), exit::FAILURE))
}
