//! `devrig down`: stop the repo's programs, then a mode's containers (see
//! [`crate::ops::down`]).

use super::args::RemoteArgs;
use super::render::Renderer;
use super::{CmdResult, GlobalArgs, report};
use crate::ops::down::{self, DownOptions};
use crate::ui::Printer;
use clap::Args;

#[derive(Args, Debug)]
pub struct DownArgs {
    /// The mode to stop (default: the mode it was started in)
    #[arg(long, short)]
    pub mode: Option<String>,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

pub fn run(printer: &Printer, global: &GlobalArgs, args: DownArgs) -> CmdResult {
    let opts = DownOptions {
        target: global.target(),
        mode: args.mode,
        refresh: args.remote.refresh,
    };
    down::down(&opts, &Renderer::new(printer)).map_err(|e| report::diagnostics(&e))
}
