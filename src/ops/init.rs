//! `init`: write a starter `devservices/config.yml` from the templates.

use super::{Error, Target};
use crate::templates;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    /// Where to write it (`-c PATH`); `devservices/config.yml` here when `None`.
    pub target: Target,
    /// Services to include; every template when empty.
    pub with: Vec<String>,
    /// The service name (compose project); the directory's name when `None`.
    pub name: Option<String>,
    /// Overwrite an existing config.
    pub force: bool,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct InitReport {
    pub path: PathBuf,
    /// Services added because a chosen one needs them.
    pub added: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{} already exists", .0.display())]
    Exists(PathBuf),
}

impl InitError {
    pub fn hint(&self) -> Option<String> {
        match self {
            InitError::Exists(_) => Some("pass --force to overwrite it".to_owned()),
        }
    }

    pub fn exit_code(&self) -> u8 {
        crate::exit::USAGE
    }
}

pub fn init(opts: &InitOptions) -> Result<InitReport, Error> {
    let path = match &opts.target.config {
        Some(path) => path.clone(),
        None => std::env::current_dir()
            .map_err(super::ContextError::Cwd)?
            .join("devservices")
            .join("config.yml"),
    };
    let name = match &opts.name {
        Some(name) => name.clone(),
        None => default_name(&path),
    };
    let rendered = templates::render(&name, &opts.with)?;
    if path.exists() && !opts.force {
        return Err(InitError::Exists(path).into());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| Error::Io {
            action: "create",
            path: parent.to_owned(),
            source,
        })?;
    }
    std::fs::write(&path, &rendered.text).map_err(|source| Error::Io {
        action: "write",
        path: path.clone(),
        source,
    })?;
    Ok(InitReport {
        path,
        added: rendered.added,
    })
}

/// The repo directory's name, made a valid project name (`My Repo` → `my-repo`).
fn default_name(config_path: &Path) -> String {
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
