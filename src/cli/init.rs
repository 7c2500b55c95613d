//! `devrig init`: write a starter `devservices/config.yml`.

use super::{CmdResult, GlobalArgs, exit};
use crate::templates::{self, TEMPLATES, TemplateError};
use crate::ui::{Diagnostic, Printer};
use clap::Args;
use std::path::PathBuf;

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
    let cwd = std::env::current_dir().map_err(|e| {
        Diagnostic::new(
            format!("cannot read the current directory: {e}"),
            exit::FAILURE,
        )
    })?;
    let path = global
        .config
        .clone()
        .unwrap_or_else(|| cwd.join("devservices").join("config.yml"));
    let name = match args.name {
        Some(name) => name,
        None => default_name(&path),
    };
    let rendered = templates::render(&name, &args.with).map_err(|e| {
        let hint = match &e {
            TemplateError::Unknown(_) => format!(
                "templates: {}",
                TEMPLATES
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            TemplateError::InvalidName(_) => {
                "pass --name with lowercase letters, digits, `-` and `_`".to_owned()
            }
        };
        Diagnostic::new(e.to_string(), exit::USAGE).hint(Some(hint))
    })?;
    if path.exists() && !args.force {
        return Err(
            Diagnostic::new(format!("{} already exists", path.display()), exit::USAGE)
                .hint(Some("pass --force to overwrite it".to_owned())),
        );
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| {
            Diagnostic::new(
                format!("cannot create {}: {e}", parent.display()),
                exit::FAILURE,
            )
        })?;
    }
    std::fs::write(&path, &rendered.text).map_err(|e| {
        Diagnostic::new(
            format!("cannot write {}: {e}", path.display()),
            exit::FAILURE,
        )
    })?;
    for added in &rendered.added {
        printer.status(
            "Added",
            &format!("{added} (required by another chosen service)"),
        );
    }
    printer.status("Created", &path.display().to_string());
    Ok(())
}

/// The repo directory's name, made a valid project name (`My Repo` → `my-repo`).
fn default_name(config_path: &std::path::Path) -> String {
    let dir: PathBuf = config_path
        .parent()
        .filter(|d| d.file_name().is_some_and(|n| n == "devservices"))
        .and_then(|d| d.parent())
        .map(PathBuf::from)
        .or_else(|| config_path.parent().map(PathBuf::from))
        .unwrap_or_default();
    let raw = dir
        .canonicalize()
        .unwrap_or(dir)
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let cleaned: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = cleaned.trim_matches(|c| c == '-' || c == '_');
    if trimmed.is_empty() {
        "devservices".to_owned()
    } else {
        trimmed.to_owned()
    }
}
