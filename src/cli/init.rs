//! `devrig init`: write a starter `devservices/config.yml` (see
//! [`crate::ops::init`]).

use super::{CmdResult, GlobalArgs, report};
use crate::ops::init::{self, InitOptions};
use crate::ui::Printer;
use clap::Args;

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Services to include, comma-separated (default: all templates)
    #[arg(long, value_delimiter = ',', value_name = "SERVICES")]
    pub with: Vec<String>,
    /// The service name (compose project); default: the directory's name
    #[arg(long)]
    pub name: Option<String>,
    /// Overwrite an existing config
    #[arg(long)]
    pub force: bool,
}

pub fn run(printer: &Printer, global: &GlobalArgs, args: InitArgs) -> CmdResult {
    let opts = InitOptions {
        target: global.target(),
        with: args.with,
        name: args.name,
        force: args.force,
    };
    let report = init::init(&opts).map_err(|e| report::diagnostics(&e))?;
    for added in &report.added {
        printer.status(
            "Added",
            &format!("{added} (required by another chosen service)"),
        );
    }
    printer.status("Created", &report.path.display().to_string());
    Ok(())
}
