//! `devrig purge [SERVICE]`: stop supervised programs and remove what devrig
//! started; asks before deleting volumes; snapshots only with `--snapshots`
//! (see [`crate::ops::purge`]).

use super::render::Renderer;
use super::reset::confirm;
use super::{CmdResult, GlobalArgs, report};
use crate::ops::purge::{self, PurgeOptions};
use crate::ui::Printer;
use clap::Args;

#[derive(Args, Debug)]
pub struct PurgeArgs {
    /// Only this service: its containers, volumes, cached remote and state
    /// (default: everything devrig and devservices started)
    pub service: Option<String>,
    /// Also delete the data volumes of the purged projects
    #[arg(long)]
    pub volumes: bool,
    /// Do not ask before deleting volumes
    #[arg(short, long)]
    pub yes: bool,
    /// Also delete every snapshot (`devrig snapshot`) on the engine
    #[arg(long)]
    pub snapshots: bool,
}

pub fn run(printer: &Printer, _global: &GlobalArgs, args: PurgeArgs) -> CmdResult {
    let opts = PurgeOptions {
        service: args.service,
        volumes: args.volumes,
        snapshots: args.snapshots,
    };
    let renderer = Renderer::new(printer).naming_projects();
    let plan = purge::prepare(&opts, &renderer).map_err(|e| report::diagnostics(&e))?;
    if plan.deletes_data() && !args.yes {
        let mut deleted = Vec::new();
        if !plan.set.volumes.is_empty() {
            deleted.push(format!("the volumes {}", plan.set.volumes.join(", ")));
        }
        if plan.snapshots {
            deleted.push("every snapshot on the engine".to_owned());
        }
        let question = format!(
            "Remove {} and delete {}?",
            match &plan.service {
                Some(service) => format!("{service}'s containers"),
                None => format!("{} containers", plan.set.containers.len()),
            },
            deleted.join(" and ")
        );
        if !confirm(printer, &question)? {
            printer.status("Cancelled", "nothing was removed");
            return Ok(());
        }
    }
    let purged = purge::purge(&plan, &renderer).map_err(|e| report::diagnostics(&e))?;
    let what = format!(
        "{} containers, {} networks, {} volumes",
        purged.containers, purged.networks, purged.volumes
    );
    match &plan.service {
        Some(service) => printer.status(
            "Purged",
            &format!("{service}: {what}; its cached remote and state removed"),
        ),
        None => printer.status(
            "Purged",
            &format!("{what}; dependency cache and state removed"),
        ),
    }
    if plan.service.is_none() && !args.volumes {
        printer.line("Data volumes were kept; `devrig purge --volumes` deletes them too.");
    }
    Ok(())
}
