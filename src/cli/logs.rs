//! `devrig logs`: containers' output, multiplexed, one color per container.

use super::context;
use super::{CmdResult, GlobalArgs};
use crate::stack;
use crate::ui::Printer;
use clap::Args;
use futures_util::StreamExt;
use std::io::Write;

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Services to show (default: every container of the mode)
    pub services: Vec<String>,
    /// Keep printing new output
    #[arg(short, long)]
    pub follow: bool,
    /// Only the last N lines of each container
    #[arg(long, value_name = "N")]
    pub tail: Option<usize>,
    #[command(flatten)]
    pub plan: context::PlanArgs,
}

/// Colors that read well on dark and light terminals; a container keeps its
/// color from run to run because it is picked from its name.
const PALETTE: &[&str] = &["36", "33", "32", "35", "34", "96", "93", "92", "95", "94"];

fn color_of(name: &str) -> &'static str {
    let hash = name
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    PALETTE[hash as usize % PALETTE.len()]
}

pub fn run(printer: &Printer, global: &GlobalArgs, args: LogsArgs) -> CmdResult {
    let plan = args.plan.plan(printer, global)?;
    let specs = context::select(args.plan.specs(&plan), &args.services)?;
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    let width = names.iter().map(String::len).max().unwrap_or(0);
    let rt = context::runtime()?;
    rt.block_on(async {
        let engine = context::engine(printer).await?;
        let mut lines = stack::logs::stream(&engine, &names, args.follow, args.tail);
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
