//! `devrig logs`: containers' and programs' output, multiplexed, one color
//! per source (see [`crate::ops::logs`]).

use super::args::ReadPlanArgs;
use super::render::Renderer;
use super::{CmdResult, GlobalArgs, report};
use crate::ops::logs::{self, LogsOptions, Sink};
use crate::stack::logs::Line;
use crate::ui::{Printer, pad, width};
use clap::Args;

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// What to show: a service (devservices' `logs snuba`: all of its
    /// output), or containers and programs of this repo's plan (default:
    /// every container of the mode and every program of the repo)
    pub services: Vec<String>,
    /// Keep printing new output
    #[arg(short, long)]
    pub follow: bool,
    /// Only the last N lines of each container or program
    #[arg(long, value_name = "N")]
    pub tail: Option<usize>,
    #[command(flatten)]
    pub plan: ReadPlanArgs,
}

pub fn run(printer: &Printer, global: &GlobalArgs, args: LogsArgs) -> CmdResult {
    let opts = LogsOptions {
        target: global.target(),
        mode: args.plan.mode,
        fetch: args.plan.remote.read_policy(),
        names: args.services,
        follow: args.follow,
        tail: args.tail,
    };
    let mut lines = Lines { printer, width: 0 };
    logs::logs(&opts, &Renderer::new(printer), &mut lines).map_err(|e| report::diagnostics(&e))
}

/// `source | text`, the sources' names lined up.
struct Lines<'a> {
    printer: &'a Printer,
    width: usize,
}

impl Sink for Lines<'_> {
    fn sources(&mut self, names: &[String]) {
        self.width = width(names.iter().map(String::as_str));
    }

    fn line(&mut self, line: &Line) -> bool {
        let prefix = self.printer.paint_source(
            &line.container,
            &format!("{} |", pad(&line.container, self.width)),
        );
        // stdout failed (the reader went away, `| head`): stop.
        self.printer
            .write_raw(format!("{prefix} {}\n", line.text).as_bytes())
    }
}
