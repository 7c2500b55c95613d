//! `devrig purge`: stop every supervised program and remove everything
//! devrig started, its networks, caches and state; volumes only with
//! `--volumes`, snapshots only with `--snapshots` (see
//! [`crate::ops::purge`]).

use super::render::Renderer;
use super::{CmdResult, GlobalArgs, report};
use crate::ops::purge::{self, PurgeOptions};
use crate::ui::Printer;
use clap::Args;

#[derive(Args, Debug)]
pub struct PurgeArgs {
    /// Also delete the data volumes of the purged projects
    #[arg(long)]
    pub volumes: bool,
    /// Also delete every snapshot (`devrig snapshot`) on the engine
    #[arg(long)]
    pub snapshots: bool,
}

pub fn run(printer: &Printer, _global: &GlobalArgs, args: PurgeArgs) -> CmdResult {
    let opts = PurgeOptions {
        volumes: args.volumes,
        snapshots: args.snapshots,
    };
    let renderer = Renderer::new(printer).naming_projects();
    let purged = purge::purge(&opts, &renderer).map_err(|e| report::diagnostics(&e))?;
    printer.status(
        "Purged",
        &format!(
            "{} containers, {} networks, {} volumes; dependency cache and state removed",
            purged.containers, purged.networks, purged.volumes
        ),
    );
    if !args.volumes {
        printer.line("Data volumes were kept; `devrig purge --volumes` deletes them too.");
    }
    Ok(())
}
