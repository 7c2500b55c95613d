//! The command line: one binary reachable as `devrig`, `devservices` and
//! `devenv`. Each command lives in its own file: its arguments, turned into
//! the options of one [`crate::ops`] operation, and the rendering of what
//! the operation reports. The work is in `ops/`.

mod args;
mod config;
mod doctor;
mod down;
mod fetch;
mod foreground;
mod init;
mod list;
mod logs;
mod purge;
mod render;
mod report;
mod reset;
mod serve;
mod snapshot;
mod status;
mod sync;
mod toggle;
mod up;
mod update;

use crate::exit;
use crate::ui::{Diagnostic, Diagnostics, OutputFailure, Printer, Verbosity};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

const SERVICE_COMMANDS: &str = "up, down, status, logs, reset, purge, snapshot, serve, foreground, toggle, config, list-services, list-dependencies, init, update";

#[derive(Parser, Debug)]
#[command(
    name = "devrig",
    version,
    about = "Sentry's devservices and devenv in one fast binary",
    after_help = "Service commands (also as `devservices <command>`): up, down, status, logs, reset, purge, snapshot, serve, foreground, toggle, config, list-services, list-dependencies, init, update\n\
                  Toolchain commands (also as `devenv <command>`): doctor, sync, fetch\n\
                  Exit codes: 0 ok, 1 failure while running, 2 invalid command line or config, 3 Docker engine unreachable, 130 interrupted."
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub(crate) struct GlobalArgs {
    /// Path to the devservices config (default: devservices/config.yml in
    /// this directory or the nearest parent that has one)
    #[arg(short = 'c', long = "config", global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Print only errors and the command's result
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print what devrig does, step by step
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Machine-readable output (for CI and scripts)
    #[arg(long, global = true)]
    pub json: bool,
}

impl GlobalArgs {
    /// The repo the command works on.
    pub fn target(&self) -> crate::ops::Target {
        self.target_for(None)
    }

    /// The repo of `service` (devservices' `up snuba`), else the one
    /// `-c` names or the current directory is in.
    pub fn target_for(&self, service: Option<String>) -> crate::ops::Target {
        crate::ops::Target {
            config: self.config.clone(),
            service,
        }
    }
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Print the resolved plan for a mode: every project, service and program, fully interpolated
    Config(config::ConfigArgs),
    /// List the services whose configs devrig knows
    #[command(visible_alias = "ls")]
    ListServices(list::ListServicesArgs),
    /// Show a service's dependencies as a tree, remote ones included
    ListDependencies(list::ListDependenciesArgs),
    /// Write a starter devservices/config.yml
    Init(init::InitArgs),
    /// Start a mode's containers, wait until they are ready, then its programs
    Up(up::UpArgs),
    /// Stop the repo's programs, then a mode's containers (kept, with their volumes)
    Down(down::DownArgs),
    /// Show a mode's containers (state, health, ports) and the repo's programs
    Status(status::StatusArgs),
    /// Show containers' and programs' output, one color per source
    Logs(logs::LogsArgs),
    /// Stop a service and delete its data volumes
    Reset(reset::ResetArgs),
    /// Stop every program and remove every container devrig started, its networks, cache and state
    Purge(purge::PurgeArgs),
    /// Save a mode's volumes under a name and restore them in seconds; list, rm, export, import
    Snapshot(snapshot::SnapshotArgs),
    /// Take a supervised program into this terminal; hand it back when it exits
    Foreground(foreground::ForegroundArgs),
    /// Switch a dependency between running as containers and from its own checkout
    Toggle(toggle::ToggleArgs),
    /// Run the repo's dev server (`x-programs.devserver`) in the foreground, in a terminal
    Serve(serve::ServeArgs),
    /// Check this clone's toolchain (Python, venv, direnv, Node, pnpm) and the Docker engine
    Doctor(doctor::DoctorArgs),
    /// Install the pinned Node, pnpm and venv, then run the repo's setup steps whose inputs changed
    Sync(sync::SyncArgs),
    /// Say which devrig runs and the command that updates it
    Update(update::UpdateArgs),
    /// Clone ORG/REPO into the coderoot (unless it is there), then sync it
    Fetch(fetch::FetchArgs),
    /// The background supervisor of a repo's programs (started by `up`)
    #[command(name = "__supervise", hide = true)]
    Supervise { project: String },
    /// Stops a supervisor's programs if it dies (started by the supervisor)
    #[command(name = "__guard", hide = true)]
    Guard,
}

/// `devenv`: the toolchain commands only.
#[derive(Parser, Debug)]
#[command(
    name = "devenv",
    version,
    about = "Check and sync a clone's toolchain (devrig's devenv)"
)]
pub(crate) struct DevenvCli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: DevenvCommand,
}

#[derive(Subcommand, Debug)]
pub(crate) enum DevenvCommand {
    /// Check this clone's toolchain (Python, venv, direnv, Node, pnpm) and the Docker engine
    Doctor(doctor::DoctorArgs),
    /// Install the pinned Node, pnpm and venv, then run the repo's setup steps whose inputs changed
    Sync(sync::SyncArgs),
    /// Clone ORG/REPO into the coderoot (unless it is there), then sync it
    Fetch(fetch::FetchArgs),
}

/// Which name the binary was started under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Personality {
    Devrig,
    Devservices,
    Devenv,
}

fn personality(argv0: &OsString) -> Personality {
    let name = std::path::Path::new(argv0)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    match name.as_str() {
        "devservices" => Personality::Devservices,
        "devenv" => Personality::Devenv,
        _ => Personality::Devrig,
    }
}

/// Runs the command line this process was started with, under the name it
/// was started as (`devrig`, `devservices`, `devenv`), and says how to exit.
pub fn run() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let who = args.first().map(personality).unwrap_or(Personality::Devrig);
    if who == Personality::Devenv {
        return run_devenv(&args);
    }
    let mut command = Cli::command().bin_name("devrig");
    if who == Personality::Devservices {
        command = command
            .name("devservices")
            .bin_name("devservices")
            .after_help(format!("Commands: {SERVICE_COMMANDS}"));
    }
    let cli: Cli = match parse(command, &args) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    // devservices' `--debug` (on up, down and toggle) is `-v`.
    let debug = match &cli.command {
        Command::Up(args) => args.debug.debug,
        Command::Down(args) => args.debug.debug,
        Command::Toggle(args) => args.debug.debug,
        _ => false,
    };
    let printer = printer_for(&cli.global, debug);
    let result = match cli.command {
        Command::Config(args) => config::run(&printer, &cli.global, args),
        Command::ListServices(args) => list::services(&printer, &cli.global, args),
        Command::ListDependencies(args) => list::dependencies(&printer, &cli.global, args),
        Command::Init(args) => init::run(&printer, &cli.global, args),
        Command::Up(args) => up::run(&printer, &cli.global, args),
        Command::Down(args) => down::run(&printer, &cli.global, args),
        Command::Status(args) => status::run(&printer, &cli.global, args),
        Command::Logs(args) => logs::run(&printer, &cli.global, args),
        Command::Reset(args) => reset::run(&printer, &cli.global, args),
        Command::Purge(args) => purge::run(&printer, &cli.global, args),
        Command::Snapshot(args) => snapshot::run(&printer, &cli.global, args),
        // The dev server's exit code is devrig's.
        Command::Serve(args) => {
            return exit_with(&printer, serve::run(&printer, &cli.global, args));
        }
        Command::Foreground(args) => {
            return exit_with(&printer, foreground::run(&printer, &cli.global, args));
        }
        Command::Toggle(args) => toggle::run(&printer, &cli.global, args),
        Command::Doctor(args) => doctor::run(&printer, &cli.global, args),
        Command::Sync(args) => sync::run(&printer, &cli.global, args),
        Command::Update(args) => update::run(&printer, &cli.global, args),
        Command::Fetch(args) => fetch::run(&printer, &cli.global, args),
        Command::Supervise { project } => {
            return match crate::supervisor::daemon::run(&project) {
                Ok(()) => ExitCode::from(exit::OK),
                Err(e) => {
                    crate::supervisor::daemon::report(&e);
                    ExitCode::from(exit::FAILURE)
                }
            };
        }
        Command::Guard => {
            crate::supervisor::guardian::watch(std::io::stdin().lock());
            return ExitCode::from(exit::OK);
        }
    };
    finish(&printer, result)
}

fn run_devenv(args: &[OsString]) -> ExitCode {
    let cli: DevenvCli = match parse(DevenvCli::command().bin_name("devenv"), args) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let printer = printer_for(&cli.global, false);
    let result = match cli.command {
        DevenvCommand::Doctor(args) => doctor::run(&printer, &cli.global, args),
        DevenvCommand::Sync(args) => sync::run(&printer, &cli.global, args),
        DevenvCommand::Fetch(args) => fetch::run(&printer, &cli.global, args),
    };
    finish(&printer, result)
}

/// Parses `args` with `command`; on `--help`/`--version` or a usage error,
/// prints clap's text and says which exit code to end with.
fn parse<T: FromArgMatches>(command: clap::Command, args: &[OsString]) -> Result<T, ExitCode> {
    command
        .try_get_matches_from(args)
        .and_then(|m| T::from_arg_matches(&m))
        .map_err(|e| {
            let _ = e.print();
            ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            })
        })
}

fn printer_for(global: &GlobalArgs, debug: bool) -> Printer {
    let verbosity = if global.quiet {
        Verbosity::Quiet
    } else if global.verbose || debug {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    };
    Printer::new(verbosity, global.json)
}

fn finish(printer: &Printer, result: CmdResult) -> ExitCode {
    let result = result.and_then(|()| output_reached(printer));
    match result {
        Ok(()) => ExitCode::from(exit::OK),
        Err(diagnostics) => {
            printer.errors(&diagnostics);
            ExitCode::from(diagnostics.exit_code())
        }
    }
}

/// Whether the command's output got out: a closed pipe is fine (the
/// reader had what it wanted), any other failed write means the result on
/// stdout is incomplete, and exiting 0 would pass it on as whole.
fn output_reached(printer: &Printer) -> CmdResult {
    match printer.output_error() {
        None | Some(OutputFailure::ReaderGone) => Ok(()),
        Some(OutputFailure::Write(e)) => Err(Diagnostic::new(
            format!("cannot write the output: {e}"),
            exit::FAILURE,
        )
        .hint("what was written is incomplete: make room where the output goes, or send it elsewhere, and run again")
        .into()),
    }
}

/// A command's outcome: its errors, each shown, the last one's exit code.
pub(crate) type CmdResult = Result<(), Diagnostics>;

/// A command whose exit code is a program's (`serve`, `foreground`).
fn exit_with(printer: &Printer, result: Result<i32, Diagnostics>) -> ExitCode {
    match result {
        Ok(code) => match output_reached(printer) {
            Ok(()) => ExitCode::from(u8::try_from(code).unwrap_or(exit::FAILURE)),
            Err(diagnostics) => finish(printer, Err(diagnostics)),
        },
        Err(diagnostics) => finish(printer, Err(diagnostics)),
    }
}
