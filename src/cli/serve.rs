//! `devrig serve`: the repo's dev server (`x-programs.devserver`) in the
//! foreground, in a pseudo-terminal, once the containers it needs are up.

use super::context::{self, MirrorArgs, PlanArgs, RemoteArgs};
use super::{CmdResult, GlobalArgs, exit, foreground, programs, report, up};
use crate::plan::Plan;
use crate::supervisor::protocol::{ProgramState, Request};
use crate::supervisor::{self, Foreground, client};
use crate::ui::{Diagnostic, Printer};
use clap::Args;
use std::process::ExitCode;

/// The program devservices' `serve` runs.
const DEVSERVER: &str = "devserver";
/// The mode whose containers the dev server expects, as in devservices.
const MODE: &str = "default";

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Start the default mode's containers first (as `devrig up` does)
    /// instead of refusing when some are not running
    #[arg(long)]
    pub up: bool,
    /// Passed on to the dev server, after its command (flags too; put `--`
    /// first to pass one that devrig itself knows, such as `--up` or `-v`)
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub args: Vec<String>,
}

/// Exits with the dev server's own exit code, hence `ExitCode` rather than
/// a `CmdResult`.
pub fn run(printer: &Printer, global: &GlobalArgs, args: ServeArgs) -> ExitCode {
    match serve(printer, global, args) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(exit::FAILURE)),
        Err(diagnostic) => super::finish(printer, Err(diagnostic)),
    }
}

fn serve(printer: &Printer, global: &GlobalArgs, args: ServeArgs) -> Result<i32, Diagnostic> {
    let config = context::load(printer, global)?;
    let plan_root = config.project().to_owned();
    let Some(program) = config.programs.get(DEVSERVER).cloned() else {
        return Err(Diagnostic::new(
            format!(
                "{} declares no `{DEVSERVER}` program to serve",
                config.file.display()
            ),
            exit::USAGE,
        )
        .hint(Some(format!(
            "add it to the config:\n\nx-programs:\n  {DEVSERVER}:\n    command: <your dev server command>"
        ))));
    };
    let mut argv = program.argv.clone();
    if argv.is_empty() {
        return Err(Diagnostic::new(
            format!("the `{DEVSERVER}` program's command is empty"),
            exit::USAGE,
        )
        .at(config.file.clone(), Some(program.pos)));
    }
    argv.extend(args.args);

    if args.up {
        // Exactly what `devrig up` does, so the state file and readiness
        // rules are the same; `up` fails when something does not get ready.
        up::run(
            printer,
            global,
            up::UpArgs {
                plan: PlanArgs {
                    mode: MODE.to_owned(),
                    remote: RemoteArgs::default(),
                    mirror: MirrorArgs {
                        registry_mirror: std::env::var("DEVRIG_REGISTRY_MIRROR")
                            .ok()
                            .filter(|m| !m.is_empty()),
                    },
                },
                // It runs here, in the foreground, not under the supervisor.
                skip_programs: vec![DEVSERVER.to_owned()],
            },
        )?;
    } else {
        let plan = context::resolve(printer, config, MODE, RemoteArgs::default().read_policy())?;
        check_containers(printer, &plan)?;
    }

    let project = plan_root;
    let supervised = client::request(&project, &Request::Status)
        .map_err(|e| programs::client_error(&e))?
        .and_then(|r| r.programs.into_iter().find(|p| p.name == DEVSERVER))
        .is_some_and(|p| {
            matches!(
                p.state,
                ProgramState::Starting | ProgramState::Running | ProgramState::Backoff
            )
        });
    if supervised {
        // Two dev servers would fight over one port: take the supervised
        // one over, as `devrig foreground devserver` does.
        return foreground::hand_off(printer, &project, DEVSERVER, &program, argv, true);
    }
    printer.debug(&format!(
        "running {} in {}",
        argv.join(" "),
        program.directory.display()
    ));
    supervisor::run_foreground(&Foreground {
        argv,
        env: program.environment.into_iter().collect(),
        dir: program.directory,
    })
    .map_err(|e| Diagnostic::new(e.to_string(), exit::FAILURE))
}

/// Refuses while a container of the default mode is not running. Without an
/// engine it only warns: a dev server may well do without its containers.
fn check_containers(printer: &Printer, plan: &Plan) -> CmdResult {
    let specs = crate::stack::specs(plan, None);
    if specs.is_empty() {
        return Ok(());
    }
    let rt = context::runtime()?;
    rt.block_on(async {
        let engine = match crate::engine::Engine::connect().await {
            Ok(engine) => engine,
            Err(e) => {
                printer.warn(&format!(
                    "cannot check the containers of mode {MODE} ({}); starting the dev server anyway",
                    report::engine_error(&e).message
                ));
                return Ok(());
            }
        };
        let statuses = crate::stack::status::status(&engine, &specs)
            .await
            .map_err(|e| report::engine_error(&e))?;
        let down: Vec<String> = statuses
            .iter()
            .filter(|s| s.state != "running")
            .map(|s| format!("{}/{} ({})", s.project, s.service, s.state))
            .collect();
        if down.is_empty() {
            return Ok(());
        }
        Err(Diagnostic::new(
            format!(
                "{} container(s) the dev server needs are not running: {}",
                down.len(),
                down.join(", ")
            ),
            exit::FAILURE,
        )
        .hint(Some(
            "start them with `devrig up`, or run `devrig serve --up`".to_owned(),
        )))
    })
}
