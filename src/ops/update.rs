//! `update`: which devrig is running, how it was installed, and the
//! command that updates it. devrig does not replace its own binary (a
//! developer's toolchain changes when they say so); devservices' `update`
//! pip-installs itself, which has no meaning for a compiled binary.
//!
//! How it was installed is read from cargo's own record of installs
//! (`.crates2.json` beside the `bin/` the binary is in, as `install.sh`'s
//! `cargo install --root` writes it).

use super::Error;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What `update` says.
#[derive(Debug, Clone, Serialize)]
pub struct UpdateReport {
    pub version: &'static str,
    /// The binary that runs, links resolved.
    pub binary: PathBuf,
    /// How it was installed.
    pub installed: Installed,
    /// What to run to update it.
    pub command: String,
}

/// Where an install came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum Installed {
    /// `install.sh` (`cargo install --path`) from a checkout.
    Checkout { path: PathBuf },
    /// `cargo install --git`.
    Git { url: String },
    /// `cargo install devrig` from a registry.
    Registry,
    /// Not by cargo (copied, or built and run in place).
    Unknown,
}

pub fn update() -> Result<UpdateReport, Error> {
    let exe = std::env::current_exe().map_err(|source| Error::Io {
        action: "find",
        path: PathBuf::from("the running binary"),
        source,
    })?;
    let binary = exe.canonicalize().unwrap_or(exe);
    let installed = binary
        .parent()
        .and_then(Path::parent)
        .and_then(|root| std::fs::read_to_string(root.join(".crates2.json")).ok())
        .map_or(Installed::Unknown, |record| installed_from(&record));
    let command = match &installed {
        Installed::Checkout { path } => {
            format!("cd {} && git pull && sh install.sh", path.display())
        }
        Installed::Git { url } => format!("cargo install --locked --force --git {url} devrig"),
        Installed::Registry => "cargo install --locked --force devrig".to_owned(),
        Installed::Unknown => {
            "in a checkout of devrig: git pull && sh install.sh (it installs devrig, devservices and devenv)"
                .to_owned()
        }
    };
    Ok(UpdateReport {
        version: env!("CARGO_PKG_VERSION"),
        binary,
        installed,
        command,
    })
}

#[derive(serde::Deserialize)]
struct Record {
    installs: BTreeMap<String, serde_json::Value>,
}

/// The source of the `devrig` entry in cargo's `.crates2.json`: its keys
/// read `devrig 0.1.0 (path+file:///src/devrig)`, `(git+https://…#rev)` or
/// `(registry+https://…)`.
fn installed_from(record: &str) -> Installed {
    let Ok(record) = serde_json::from_str::<Record>(record) else {
        return Installed::Unknown;
    };
    let Some(source) = record.installs.keys().find_map(|key| {
        let rest = key.strip_prefix("devrig ")?;
        let (_, source) = rest.split_once(" (")?;
        source.strip_suffix(')')
    }) else {
        return Installed::Unknown;
    };
    if let Some(path) = source.strip_prefix("path+file://") {
        Installed::Checkout {
            path: PathBuf::from(path),
        }
    } else if let Some(git) = source.strip_prefix("git+") {
        Installed::Git {
            url: git.split(['#', '?']).next().unwrap_or(git).to_owned(),
        }
    } else if source.starts_with("registry+") || source.starts_with("sparse+") {
        Installed::Registry
    } else {
        Installed::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_as_cargo_records_them() {
        let record = |key: &str| format!(r#"{{"installs":{{"{key}":{{"bins":["devrig"]}}}}}}"#);
        assert_eq!(
            installed_from(&record("devrig 0.1.0 (path+file:///src/devrig)")),
            Installed::Checkout {
                path: "/src/devrig".into()
            }
        );
        assert_eq!(
            installed_from(&record(
                "devrig 0.1.0 (git+https://example.invalid/devrig?branch=main#0123abcd)"
            )),
            Installed::Git {
                url: "https://example.invalid/devrig".into()
            }
        );
        assert_eq!(
            installed_from(&record(
                "devrig 0.1.0 (registry+https://github.com/rust-lang/crates.io-index)"
            )),
            Installed::Registry
        );
        assert_eq!(
            installed_from(&record("ripgrep 14.1.0 (registry+https://x)")),
            Installed::Unknown
        );
        assert_eq!(installed_from("not json"), Installed::Unknown);
    }
}
