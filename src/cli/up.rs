//! `devrig up`: start a mode's containers, wait until they are ready, then
//! its programs (see [`crate::ops::up`]).

use super::args::PlanArgs;
use super::render::Renderer;
use super::{CmdResult, GlobalArgs, report};
use crate::ops::programs::Selection;
use crate::ops::up::{self, UpOptions};
use crate::ui::Printer;
use clap::Args;

#[derive(Args, Debug)]
pub struct UpArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
}

pub fn run(printer: &Printer, global: &GlobalArgs, args: UpArgs) -> CmdResult {
    let opts = UpOptions {
        target: global.target(),
        mode: args.plan.mode,
        fetch: args.plan.remote.up_policy(),
        mirror: args.plan.mirror.registry_mirror,
        programs: Selection::all(),
    };
    // The summary line comes from the operation's `ServiceUp` event.
    up::up(&opts, &Renderer::new(printer)).map_err(|e| report::diagnostics(&e))?;
    Ok(())
}
