//! `devrig reset SERVICE`: stop a service and delete its data volumes.

use super::context;
use super::{CmdResult, GlobalArgs, exit, report};
use crate::stack;
use crate::ui::{Diagnostic, Printer, progress::Progress};
use clap::Args;
use std::io::{BufRead, IsTerminal, Write};

#[derive(Args, Debug)]
pub struct ResetArgs {
    /// The service whose data to delete
    pub service: String,
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub yes: bool,
    #[command(flatten)]
    pub plan: context::PlanArgs,
}

pub fn run(printer: &Printer, global: &GlobalArgs, args: ResetArgs) -> CmdResult {
    let plan = args.plan.plan(printer, global)?;
    let specs = args.plan.specs(&plan);
    let chosen = context::select(specs.clone(), std::slice::from_ref(&args.service))?;
    let target = &chosen[0];
    let (own, shared) = stack::maintenance::own_volumes(target, &specs);
    for volume in &shared {
        printer.warn(&format!(
            "keeping volume {volume}: another service or an external owner uses it"
        ));
    }
    if !args.yes {
        let question = format!(
            "Stop {} and delete its volumes ({})? [y/N] ",
            target.name,
            if own.is_empty() {
                "none".to_owned()
            } else {
                own.join(", ")
            }
        );
        if !std::io::stdin().is_terminal() || std::env::var_os("CI").is_some() {
            return Err(Diagnostic::new(
                format!(
                    "refusing to delete data without confirmation: {}",
                    question.trim_end_matches(" [y/N] ")
                ),
                exit::USAGE,
            )
            .hint(Some("pass --yes to confirm".to_owned())));
        }
        eprint!("{question}");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            printer.status("Cancelled", "nothing was deleted");
            return Ok(());
        }
    }
    let rt = context::runtime()?;
    rt.block_on(async {
        let engine = context::engine(printer).await?;
        stack::maintenance::reset(&engine, target, &own, &Progress::new(printer))
            .await
            .map_err(|e| report::stack_error(&e))
    })?;
    printer.status("Reset", &target.name);
    Ok(())
}
