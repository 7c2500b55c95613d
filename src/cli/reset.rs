//! `devrig reset SERVICE`: stop a service and delete its data volumes,
//! after asking (see [`crate::ops::reset`]).

use super::args::ReadPlanArgs;
use super::render::Renderer;
use super::{CmdResult, GlobalArgs, report};
use crate::exit;
use crate::ops::reset::{self, ResetOptions};
use crate::ui::{Diagnostic, Printer};
use clap::Args;
use std::io::IsTerminal;

#[derive(Args, Debug)]
pub struct ResetArgs {
    /// The compose service whose data to delete (`postgres`, `kafka/kafka`):
    /// of this repo's plan, else any devservices container of that service
    pub service: String,
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub yes: bool,
    #[command(flatten)]
    pub plan: ReadPlanArgs,
}

pub fn run(printer: &Printer, global: &GlobalArgs, args: ResetArgs) -> CmdResult {
    let opts = ResetOptions {
        target: global.target(),
        mode: args.plan.mode,
        fetch: args.plan.remote.read_policy(),
        service: args.service,
    };
    let renderer = Renderer::new(printer);
    let plan = reset::prepare(&opts, &renderer).map_err(|e| report::diagnostics(&e))?;
    if !args.yes {
        let question = format!(
            "Stop {} and delete {} volumes ({})?",
            plan.containers.join(", "),
            if plan.containers.len() == 1 {
                "its"
            } else {
                "their"
            },
            if plan.volumes.is_empty() {
                "none".to_owned()
            } else {
                plan.volumes.join(", ")
            }
        );
        if !confirm(printer, &question)? {
            printer.status("Cancelled", "nothing was deleted");
            return Ok(());
        }
    }
    reset::reset(&plan, &renderer).map_err(|e| report::diagnostics(&e))?;
    printer.status("Reset", &plan.containers.join(", "));
    Ok(())
}

/// Asks `question` on the terminal; without one (or in CI) refuses, since
/// data is deleted only when someone said so.
pub(super) fn confirm(printer: &Printer, question: &str) -> Result<bool, Diagnostic> {
    if !std::io::stdin().is_terminal() || std::env::var_os("CI").is_some() {
        return Err(Diagnostic::new(
            format!("refusing to delete data without confirmation: {question}"),
            exit::USAGE,
        )
        .hint("pass --yes to confirm"));
    }
    let answer = printer.ask(&format!("{question} [y/N]"));
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
