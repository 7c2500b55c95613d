use super::{CmdResult, GlobalArgs};
use crate::ui::Printer;
use clap::Args;

#[derive(Args, Debug)]
pub struct InitArgs {}

pub fn run(_printer: &Printer, _global: &GlobalArgs, _args: InitArgs) -> CmdResult {
    Ok(())
}
