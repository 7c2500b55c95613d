//! `devrig update`: which devrig runs, how it was installed, and how to
//! update it (see [`crate::ops::update`]); it changes nothing.

use super::{CmdResult, GlobalArgs, report};
use crate::ops::update::{self, Installed};
use crate::ui::Printer;
use clap::Args;

#[derive(Args, Debug)]
pub struct UpdateArgs {}

pub fn run(printer: &Printer, _global: &GlobalArgs, _args: UpdateArgs) -> CmdResult {
    let report = update::update().map_err(|e| report::diagnostics(&e))?;
    if printer.is_json() {
        printer.json(&report);
        return Ok(());
    }
    let how = match &report.installed {
        Installed::Checkout { path } => format!("installed from the checkout {}", path.display()),
        Installed::Git { url } => format!("installed by cargo from {url}"),
        Installed::Registry => "installed by cargo from crates.io".to_owned(),
        Installed::Unknown => "not installed by cargo".to_owned(),
    };
    printer.line(&format!(
        "devrig {} at {} ({how})",
        report.version,
        report.binary.display()
    ));
    printer.line(&format!("To update it: {}", report.command));
    Ok(())
}
