//! Errors and warnings about a config file, each tied to a place in it.

use super::yaml::{Node, Pos};
use std::fmt;
use std::path::{Path, PathBuf};

/// Something wrong in a config file: what, where, and what to do about it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ConfigError {
    /// The config file.
    pub file: PathBuf,
    /// `None` when the problem is the file as a whole (unreadable, missing).
    pub pos: Option<Pos>,
    /// What is wrong, in one line.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl ConfigError {
    /// An error at `pos` in `file`.
    pub fn at(file: &Path, pos: Pos, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_owned(),
            pos: Some(pos),
            message: message.into(),
            hint: None,
        }
    }

    /// An error about `file` as a whole.
    pub fn whole_file(file: &Path, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_owned(),
            pos: None,
            message: message.into(),
            hint: None,
        }
    }

    /// The error with what to do about it.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// `file:line:col`, the form editors and terminals turn into links.
    pub fn location(&self) -> String {
        match self.pos {
            Some(pos) => format!("{}:{pos}", self.file.display()),
            None => self.file.display().to_string(),
        }
    }
}

/// A problem that does not stop devrig, such as a compose key it ignores.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Warning {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl Warning {
    pub fn at(file: &Path, pos: Pos, message: impl Into<String>) -> Self {
        Warning {
            file: file.to_owned(),
            line: pos.line,
            col: pos.col,
            message: message.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.col,
            self.message
        )
    }
}

/// Builds errors and collects warnings for one file while it is read.
pub struct Reporter<'a> {
    pub file: &'a Path,
    pub warnings: Vec<Warning>,
}

impl<'a> Reporter<'a> {
    pub fn new(file: &'a Path) -> Self {
        Reporter {
            file,
            warnings: Vec::new(),
        }
    }

    pub fn error(&self, node: &Node, message: impl Into<String>) -> ConfigError {
        ConfigError::at(self.file, node.pos, message)
    }

    pub fn error_at(&self, pos: Pos, message: impl Into<String>) -> ConfigError {
        ConfigError::at(self.file, pos, message)
    }

    pub fn warn(&mut self, node: &Node, message: impl Into<String>) {
        self.warnings
            .push(Warning::at(self.file, node.pos, message));
    }
}
