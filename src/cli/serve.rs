//! `devrig serve`: the repo's dev server in the foreground, in a
//! pseudo-terminal (see [`crate::ops::serve`]). devrig exits with the dev
//! server's exit code.

use super::render::Renderer;
use super::{GlobalArgs, report};
use crate::ops::serve::{self, ServeOptions};
use crate::ui::{Diagnostics, Printer};
use clap::Args;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Start the default mode's containers first (as `devrig up` does)
    /// instead of refusing when some are not running
    #[arg(long)]
    pub up: bool,
    /// Passed on to the dev server, after its command (flags too; put `--`
    /// first to pass one that devrig itself knows, such as `--up` or `-v`)
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub args: Vec<String>,
}

pub fn run(printer: &Printer, global: &GlobalArgs, args: ServeArgs) -> Result<i32, Diagnostics> {
    let opts = ServeOptions {
        target: global.target(),
        up: args.up,
        args: args.args,
        mirror: std::env::var("DEVRIG_REGISTRY_MIRROR")
            .ok()
            .filter(|m| !m.is_empty()),
    };
    serve::serve(&opts, &Renderer::new(printer)).map_err(|e| report::diagnostics(&e))
}
