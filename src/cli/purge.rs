//! `devrig purge`: stop every supervised program and remove everything
//! devrig started, its networks, caches and state. Volumes only with
//! `--volumes`.

use super::{CmdResult, GlobalArgs, context, exit, programs, report};
use crate::plan::remote::RemoteCache;
use crate::stack;
use crate::state::Store;
use crate::ui::{Diagnostic, Printer, progress::Progress};
use clap::Args;

#[derive(Args, Debug)]
pub struct PurgeArgs {
    /// Also delete the data volumes of the purged projects
    #[arg(long)]
    pub volumes: bool,
}

pub fn run(printer: &Printer, _global: &GlobalArgs, args: PurgeArgs) -> CmdResult {
    // Every repo's programs first, as `down` does for one.
    for project in crate::supervisor::client::supervised_projects() {
        for program in programs::shutdown(&project)? {
            printer.status("Stopped", &format!("{} ({project})", program.name));
        }
    }
    let rt = context::runtime()?;
    let purged = rt.block_on(async {
        let engine = context::engine(printer).await?;
        stack::maintenance::purge(&engine, args.volumes, &Progress::new(printer))
            .await
            .map_err(|e| report::stack_error(&e))
    })?;
    for dir in [RemoteCache::default_root(), Store::default_dir()] {
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| {
                Diagnostic::new(
                    format!("cannot remove {}: {e}", dir.display()),
                    exit::FAILURE,
                )
            })?;
        }
    }
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
