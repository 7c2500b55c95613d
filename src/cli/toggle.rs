//! `devrig toggle [SERVICE] [containerized|local]`: switch how a
//! dependency runs (see [`crate::ops::toggle`]).

use super::args::{DebugArg, MirrorArgs, RemoteArgs};
use super::render::Renderer;
use super::{CmdResult, GlobalArgs, report};
use crate::ops::toggle::{self, ToggleOptions};
use crate::ui::Printer;
use clap::{Args, ValueEnum};

#[derive(Args, Debug)]
pub struct ToggleArgs {
    /// The service (its `service_name`; default: this repo's)
    pub service: Option<String>,
    /// Where it should run (default: the other one)
    #[arg(value_enum)]
    pub runtime: Option<Runtime>,
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(flatten)]
    pub mirror: MirrorArgs,
    #[command(flatten)]
    pub debug: DebugArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Runtime {
    Containerized,
    Local,
}

impl From<Runtime> for toggle::Runtime {
    fn from(runtime: Runtime) -> Self {
        match runtime {
            Runtime::Containerized => toggle::Runtime::Containerized,
            Runtime::Local => toggle::Runtime::Local,
        }
    }
}

pub fn run(printer: &Printer, global: &GlobalArgs, args: ToggleArgs) -> CmdResult {
    let opts = ToggleOptions {
        target: global.target(),
        service: args.service,
        runtime: args.runtime.map(Into::into),
        // Dependents come up again as `up` brings them up.
        fetch: args.remote.up_policy(),
        mirror: args.mirror.registry_mirror,
    };
    let report =
        toggle::toggle(&opts, &Renderer::new(printer)).map_err(|e| report::diagnostics(&e))?;
    if !report.changed {
        printer.status(
            "Unchanged",
            &format!(
                "{} already runs {}",
                report.service,
                report.runtime.as_str()
            ),
        );
    }
    Ok(())
}
