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
    /// Variables that were referenced unset (interpolated to an empty
    /// string), with where: an error on their line says so.
    pub unset: Vec<(String, Pos)>,
}

impl<'a> Reporter<'a> {
    pub fn new(file: &'a Path) -> Self {
        Reporter {
            file,
            warnings: Vec::new(),
            unset: Vec::new(),
        }
    }

    /// `e`, told why its value is empty when an unset variable on its line
    /// made it so (the volume `$CHARTCUTERIE_CONFIG_PATH:/etc/chartcuterie`
    /// with the variable unset is a volume named ``).
    pub fn explain_unset(&self, mut e: ConfigError) -> ConfigError {
        let Some(line) = e.pos.map(|p| p.line) else {
            return e;
        };
        let mut names: Vec<&str> = self
            .unset
            .iter()
            .filter(|(_, pos)| pos.line == line)
            .map(|(name, _)| name.as_str())
            .collect();
        names.dedup();
        let Some(first) = names.first() else {
            return e;
        };
        let vars = names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let (is, it) = if names.len() == 1 {
            ("is", "it")
        } else {
            ("are", "them")
        };
        e.message = format!(
            "{} ({vars} {is} not set, so this interpolated to an empty string)",
            e.message
        );
        let env_file = self.file.parent().unwrap_or(Path::new(".")).join(".env");
        e.hint = Some(format!(
            "set {it} in your environment (`export {first}=…`) or in {} beside the config, or give a default: `${{{first}:-value}}`",
            env_file.display()
        ));
        e
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
