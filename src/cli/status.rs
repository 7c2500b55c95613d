//! `devrig status`: the plan's containers and their state, one engine query.

use super::context;
use super::{CmdResult, GlobalArgs, report};
use crate::stack;
use crate::ui::{Printer, Style};
use clap::Args;

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub plan: context::PlanArgs,
}

pub fn run(printer: &Printer, global: &GlobalArgs, args: StatusArgs) -> CmdResult {
    let plan = args.plan.plan(printer, global)?;
    let specs = args.plan.specs(&plan);
    let rt = context::runtime()?;
    let rows = rt.block_on(async {
        let engine = context::engine(printer).await?;
        stack::status::status(&engine, &specs)
            .await
            .map_err(|e| report::engine_error(&e))
    })?;
    if printer.json {
        printer.json(&rows);
        return Ok(());
    }
    let width = rows.iter().map(|r| r.container.len()).max().unwrap_or(0);
    for row in &rows {
        let state = match (row.state.as_str(), row.health.as_deref()) {
            ("running", Some("healthy") | None) => printer.paint(Style::Green, &row.state),
            ("running", _) => printer.paint(Style::Yellow, &row.state),
            _ => printer.paint(Style::Red, &row.state),
        };
        printer.line(&format!(
            "{:<width$}  {state:<9}  {}  {}",
            row.container,
            row.status,
            row.ports.join(", ")
        ));
    }
    Ok(())
}
