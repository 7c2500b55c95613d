//! What the checks read from the process, captured once so that every check
//! (and every tool it starts) sees the same environment, and so that tests can
//! hand the checks an isolated one without touching the real process.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// Environment variables the checks read (`PATH`, `HOME`, `SHELL`,
/// `VIRTUAL_ENV`, `DIRENV_DIR`, …) and that the tools they run get: a child
/// process sees exactly these variables and nothing else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostEnv {
    vars: BTreeMap<String, String>,
}

impl HostEnv {
    /// The current process's environment. Variables that are not valid UTF-8
    /// are left out: no check reads them, and tools run without them.
    pub fn from_process() -> Self {
        HostEnv {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }

    /// An environment made of exactly these variables.
    pub fn from_vars<K, V>(vars: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        HostEnv {
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The variable's value; an empty value counts as unset, as shells and
    /// the tools checked here treat it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Sets a variable (for a test's environment, or a fix's tool).
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.vars.insert(name.into(), value.into());
    }

    /// Unsets a variable.
    pub fn remove(&mut self, name: &str) {
        self.vars.remove(name);
    }

    /// Every variable, sorted by name.
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// `$HOME`.
    pub fn home(&self) -> Option<PathBuf> {
        self.get("HOME").map(PathBuf::from)
    }

    /// `$XDG_CONFIG_HOME`, defaulting to `~/.config` as the XDG spec says.
    pub fn config_home(&self) -> Option<PathBuf> {
        match self.get("XDG_CONFIG_HOME") {
            Some(dir) if Path::new(dir).is_absolute() => Some(PathBuf::from(dir)),
            _ => self.home().map(|h| h.join(".config")),
        }
    }

    /// The first executable called `name` on this environment's `PATH`
    /// (relative entries are taken from `cwd`, as a shell would).
    pub fn which(&self, name: impl AsRef<OsStr>, cwd: &Path) -> Option<PathBuf> {
        let path = self.get("PATH")?;
        which::which_in(name, Some(path), cwd).ok()
    }

    /// `path` with the home directory written as `~`, for findings the user
    /// reads and fix texts the user types.
    pub fn tilde(&self, path: &Path) -> String {
        if let Some(home) = self.home()
            && let Ok(rest) = path.strip_prefix(&home)
        {
            return if rest.as_os_str().is_empty() {
                "~".to_owned()
            } else {
                format!("~/{}", rest.display())
            };
        }
        path.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_are_unset() {
        let env = HostEnv::from_vars([("A", ""), ("B", "x")]);
        assert_eq!(env.get("A"), None);
        assert_eq!(env.get("B"), Some("x"));
    }

    #[test]
    fn config_home_defaults_under_home() {
        let env = HostEnv::from_vars([("HOME", "/h")]);
        assert_eq!(env.config_home(), Some(PathBuf::from("/h/.config")));
        let env = HostEnv::from_vars([("HOME", "/h"), ("XDG_CONFIG_HOME", "/c")]);
        assert_eq!(env.config_home(), Some(PathBuf::from("/c")));
        // The spec says relative values are invalid and must be ignored.
        let env = HostEnv::from_vars([("HOME", "/h"), ("XDG_CONFIG_HOME", "rel")]);
        assert_eq!(env.config_home(), Some(PathBuf::from("/h/.config")));
    }

    #[test]
    fn tilde_only_replaces_a_whole_home_prefix() {
        let env = HostEnv::from_vars([("HOME", "/home/me")]);
        assert_eq!(env.tilde(Path::new("/home/me/.bashrc")), "~/.bashrc");
        assert_eq!(
            env.tilde(Path::new("/home/mee/.bashrc")),
            "/home/mee/.bashrc"
        );
        assert_eq!(env.tilde(Path::new("/home/me")), "~");
    }

    #[test]
    fn which_without_path_finds_nothing() {
        let env = HostEnv::from_vars([("HOME", "/h")]);
        assert_eq!(env.which("sh", Path::new("/")), None);
    }
}
