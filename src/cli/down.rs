//! `devrig down [SERVICE]`: stop the repo's programs, then a mode's
//! containers (see [`crate::ops::down`]).

use super::args::{DebugArg, ExcludeLocalArg, RemoteArgs};
use super::render::Renderer;
use super::{CmdResult, GlobalArgs, report};
use crate::ops::down::{self, DownOptions};
use crate::ui::Printer;
use clap::Args;

#[derive(Args, Debug)]
pub struct DownArgs {
    /// The service to bring down (its `service_name`; default: this repo's)
    pub service: Option<String>,
    /// The mode to stop (default: the mode it was started in)
    #[arg(long, short)]
    pub mode: Option<String>,
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(flatten)]
    pub exclude_local: ExcludeLocalArg,
    #[command(flatten)]
    pub debug: DebugArg,
}

pub fn run(printer: &Printer, global: &GlobalArgs, args: DownArgs) -> CmdResult {
    let opts = DownOptions {
        target: global.target_for(args.service),
        mode: args.mode,
        refresh: args.remote.refresh,
        exclude_local: args.exclude_local.exclude_local,
    };
    down::down(&opts, &Renderer::new(printer)).map_err(|e| report::diagnostics(&e))
}
