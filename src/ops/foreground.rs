//! `foreground PROGRAM`: take a supervised program into this terminal (for
//! a debugger or print statements) and hand it back to the supervisor when
//! it exits. `serve` takes a supervised dev server over the same way.

use super::programs::{self, ProgramError};
use super::{Error, Event, Observer, Target};
use crate::config::Program;
use crate::supervisor::protocol::{ProgramState, Request};
use crate::supervisor::{self, Foreground};

#[derive(Debug, Clone)]
pub struct ForegroundOptions {
    pub target: Target,
    /// The program (an `x-programs` entry) to run here.
    pub program: String,
}

/// A step of the hand-over, as it happens.
#[derive(Debug, Clone)]
pub enum Step {
    /// The supervisor stopped its copy.
    TakenOver { name: String },
    /// It runs here now.
    Running { name: String, argv: Vec<String> },
    /// It was stopped in the supervisor before (autostart off) and stays so.
    LeftStopped { name: String },
    /// The supervisor runs it again.
    HandedBack { name: String, pid: Option<i32> },
    /// The supervisor could not take it back.
    NotHandedBack { name: String, why: String },
}

/// Runs the program here; returns its exit code (128+N when signal N
/// killed it).
pub fn foreground(opts: &ForegroundOptions, observer: &dyn Observer) -> Result<i32, Error> {
    let config = opts.target.load(observer)?;
    let project = config.project().to_owned();
    let Some(program) = config.programs.get(&opts.program).cloned() else {
        return Err(ProgramError::Unknown {
            name: opts.program.clone(),
            file: config.file.clone(),
            known: config.programs.keys().cloned().collect(),
        }
        .into());
    };
    program.runnable()?;
    let supervised = programs::status(&project)?
        .and_then(|r| r.programs.into_iter().find(|p| p.name == opts.program));
    let Some(supervised) = supervised else {
        return Err(ProgramError::NotSupervised {
            name: opts.program.clone(),
        }
        .into());
    };
    // A program the supervisor holds stopped (autostart off) stays so.
    let hand_back = supervised.state != ProgramState::Stopped;
    hand_off(
        &project,
        &opts.program,
        &program,
        program.argv.clone(),
        hand_back,
        observer,
    )
}

/// Stops the supervised `name`, runs `argv` in this terminal, and (when
/// `hand_back`) starts the supervised one again afterwards, whatever the
/// foreground run's outcome.
pub fn hand_off(
    project: &str,
    name: &str,
    program: &Program,
    argv: Vec<String>,
    hand_back: bool,
    observer: &dyn Observer,
) -> Result<i32, Error> {
    let step = |step: Step| observer.event(Event::Foreground(step));
    programs::ask(
        project,
        &Request::Stop {
            names: vec![name.to_owned()],
            foreground: Some(std::process::id()),
        },
    )?;
    step(Step::TakenOver {
        name: name.to_owned(),
    });
    step(Step::Running {
        name: name.to_owned(),
        argv: argv.clone(),
    });
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
        step(Step::LeftStopped {
            name: name.to_owned(),
        });
        return Ok(outcome?);
    }
    let back = programs::ask(
        project,
        &Request::Start {
            names: vec![name.to_owned()],
        },
    );
    match back {
        Ok(report) => step(Step::HandedBack {
            name: name.to_owned(),
            pid: report
                .programs
                .iter()
                .find(|p| p.name == name && p.state != ProgramState::Foreground)
                .and_then(|p| p.pid),
        }),
        Err(e) => step(Step::NotHandedBack {
            name: name.to_owned(),
            why: e.to_string(),
        }),
    }
    Ok(outcome?)
}
