//! `list-services` and `list-dependencies` (see [`crate::ops::services`]).

use super::args::RemoteArgs;
use super::render::Renderer;
use super::{CmdResult, GlobalArgs, report};
use crate::ops::services::{self, DepNode, DependenciesOptions};
use crate::ui::{Printer, Tone, pad, width};
use clap::Args;

#[derive(Args, Debug)]
pub struct ListServicesArgs {
    /// Also the services that are not running: every one found in this
    /// repo, under the coderoot and in the dependency cache
    #[arg(short, long)]
    pub all: bool,
}

#[derive(Args, Debug)]
pub struct ListDependenciesArgs {
    /// The service whose dependencies to show (default: this repo's)
    pub service: Option<String>,
    /// The mode to resolve
    #[arg(long, short, default_value = "default")]
    pub mode: String,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

pub fn services(printer: &Printer, global: &GlobalArgs, args: ListServicesArgs) -> CmdResult {
    let services = services::list(&global.target(), args.all, &Renderer::new(printer));
    if printer.is_json() {
        printer.json(&services);
        return Ok(());
    }
    if services.is_empty() {
        printer.line(if args.all {
            "No services found."
        } else {
            "No services are running; `devrig list-services --all` lists every one found."
        });
        return Ok(());
    }
    let width = width(services.iter().map(|s| s.name.as_str()));
    for s in &services {
        let (state, modes) = match &s.mode {
            Some(mode) => (printer.paint(Tone::Good, "running"), format!("mode {mode}")),
            None => (
                printer.paint(Tone::Dim, "stopped"),
                format!("[{}]", s.modes.join(", ")),
            ),
        };
        printer.line(&format!(
            "{}  {}  {}  {}",
            printer.paint(Tone::Strong, &pad(&s.name, width)),
            pad(&state, 7),
            printer.paint(Tone::Dim, &modes),
            s.config_file.display()
        ));
    }
    Ok(())
}

pub fn dependencies(
    printer: &Printer,
    global: &GlobalArgs,
    args: ListDependenciesArgs,
) -> CmdResult {
    let opts = DependenciesOptions {
        target: global.target(),
        service: args.service,
        mode: args.mode,
        fetch: args.remote.read_policy(),
    };
    let out = services::dependencies(&opts, &Renderer::new(printer))
        .map_err(|e| report::diagnostics(&e))?;
    if printer.is_json() {
        printer.json(&out);
        return Ok(());
    }
    printer.line(&format!(
        "{} {}",
        printer.paint(Tone::Strong, &out.service),
        printer.paint(Tone::Dim, &format!("(mode {})", out.mode))
    ));
    print_tree(printer, &out.dependencies, "");
    Ok(())
}

fn print_tree(printer: &Printer, nodes: &[DepNode], prefix: &str) {
    for (i, node) in nodes.iter().enumerate() {
        let last = i + 1 == nodes.len();
        let branch = if last { "└── " } else { "├── " };
        let detail = match (node.kind, &node.project, &node.mode) {
            ("remote", Some(project), Some(mode)) => format!("remote: {project}, mode {mode}"),
            (kind, _, _) => kind.to_owned(),
        };
        let description = if node.description.is_empty() {
            String::new()
        } else {
            format!(" — {}", node.description)
        };
        printer.line(&format!(
            "{prefix}{branch}{} {}{description}",
            printer.paint(Tone::Strong, &node.name),
            printer.paint(Tone::Dim, &format!("({detail})")),
        ));
        let child_prefix = format!("{prefix}{}", if last { "    " } else { "│   " });
        print_tree(printer, &node.dependencies, &child_prefix);
    }
}
