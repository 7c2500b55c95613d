//! `devrig foreground PROGRAM`: take a supervised program into this
//! terminal and hand it back when it exits (see [`crate::ops::foreground`]).
//! devrig exits with the program's exit code.

use super::render::Renderer;
use super::{GlobalArgs, report};
use crate::ops::foreground::{self, ForegroundOptions};
use crate::ui::{Diagnostics, Printer};
use clap::Args;

#[derive(Args, Debug)]
pub struct ForegroundArgs {
    /// The program (an `x-programs` entry) to run here
    pub program: String,
}

pub fn run(
    printer: &Printer,
    global: &GlobalArgs,
    args: ForegroundArgs,
) -> Result<i32, Diagnostics> {
    let opts = ForegroundOptions {
        target: global.target(),
        program: args.program,
    };
    foreground::foreground(&opts, &Renderer::new(printer)).map_err(|e| report::diagnostics(&e))
}
