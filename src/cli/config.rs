//! `devrig config`: the resolved plan, as `docker compose config` prints a
//! project, but across every repo the mode pulls in (see
//! [`crate::ops::config`]).

use super::args::RemoteArgs;
use super::render::Renderer;
use super::{CmdResult, GlobalArgs, report};
use crate::exit;
use crate::ops::config::{self, ConfigOptions};
use crate::ui::{Diagnostic, Printer};
use clap::Args;

#[derive(Args, Debug)]
pub struct ConfigArgs {
    /// The mode to resolve
    #[arg(long, short, default_value = "default")]
    pub mode: String,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

pub fn run(printer: &Printer, global: &GlobalArgs, args: ConfigArgs) -> CmdResult {
    let opts = ConfigOptions {
        target: global.target(),
        mode: args.mode,
        fetch: args.remote.read_policy(),
    };
    let plan =
        config::config(&opts, &Renderer::new(printer)).map_err(|e| report::diagnostics(&e))?;
    let out = config::output(&plan);
    if printer.is_json() {
        printer.json(&out);
        return Ok(());
    }
    let yaml = serde_saphyr::to_string(&out).map_err(|e| {
        Diagnostic::new(
            format!("cannot render the plan as YAML: {e}"),
            exit::FAILURE,
        )
    })?;
    printer.write_raw(yaml.as_bytes());
    Ok(())
}
