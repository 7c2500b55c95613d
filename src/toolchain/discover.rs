//! Requirements a repo states without devrig: the files version managers,
//! package managers and sentry-devenv already read.
//!
//! | need | read from, first wins |
//! | --- | --- |
//! | Python version | `.python-version`, `devenv/config.ini` (`[venv.*] python`, then `[python] version`) |
//! | venv | `devenv/config.ini` (`[venv.*] path`), else `.venv` |
//! | install command | `uv.lock` → `uv sync --frozen --inexact`; `config.ini` requirements/editable, `requirements*.txt`, `pyproject.toml` → pip |
//! | Node version | `.node-version`, `config.ini` `[node] version`, `.nvmrc`, `package.json` `volta.node`, `package.json` `engines.node` |
//! | Node download | `config.ini` `[node]` `<system>_<machine>` and `<system>_<machine>_sha256` (`linux_x86_64`, `darwin_arm64`, …), for its `version` |
//! | pnpm version | `package.json` `packageManager` (with its `+sha512.…` hash), then `engines.pnpm` |
//! | git hooks | `.pre-commit-config.yaml`; installed by prek when the repo depends on it (`uv.lock`, requirements, `prek.toml`), else pre-commit |
//! | direnv | `.envrc` exists |
//!
//! Pins come before ranges: a pin says what the team runs, a range only what
//! still works. A full version (`26.11.1`, `3.12.6`) is an exact pin, as
//! sentry's `.envrc` and uv read it; a partial one (`22`, `3.12`) is a range. A value a version manager understands but that names no
//! version (`.nvmrc` `node`, `lts/*`; `.python-version` `system`) pins
//! nothing, and the next source is asked.
//!
//! `package.json` and `pyproject.toml` are parsed whole (serde_json, toml),
//! so a field is found however the file spells it (`[tool.uv]`, dotted keys,
//! inline tables). A file that does not parse is an error at its position:
//! pnpm, pip and uv would refuse it too.

use super::ini;
use super::requirements::{NodeDist, Pinned, PythonReq, Source, SyncStep};
use super::version::VersionReq;
use crate::config::ConfigError;
use crate::config::yaml::Pos;
use std::path::Path;

pub const CONFIG_INI: &str = "devenv/config.ini";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Discovered {
    pub python: FoundPython,
    pub node: FoundNode,
    pub pnpm: FoundPnpm,
    pub envrc: bool,
    pub pre_commit: bool,
    /// The repo installs its hooks with prek (it depends on it).
    pub prek: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FoundPython {
    /// Any sign of a Python project: a pin, a lock, requirements, a package.
    pub is_project: bool,
    pub version: Option<Pinned>,
    pub venv: Option<String>,
    pub install: Option<Install>,
    /// The distribution name, when the repo is an installable package.
    pub project: Option<String>,
    /// Python files `devenv sync` watches (lock, requirements, metadata).
    pub inputs: Vec<String>,
    /// The file that decided `install` (`uv.lock`, `devenv/config.ini`, …).
    pub install_source: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FoundNode {
    /// `package.json`, `.nvmrc` or `.node-version` exists, or config.ini has `[node]`.
    pub is_used: bool,
    pub version: Option<Pinned>,
    /// This platform's download in `config.ini` `[node]`.
    pub dist: Option<NodeDist>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FoundPnpm {
    /// `packageManager` names pnpm, or `pnpm-lock.yaml` exists.
    pub is_used: bool,
    pub version: Option<Pinned>,
    /// The version comes from `packageManager`, which pins it exactly.
    pub package_manager: bool,
    /// The hex SHA-512 after `+sha512.` in `packageManager`.
    pub sha512: Option<String>,
    pub lockfile: bool,
    pub workspace: bool,
}

/// How the project gets into its venv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Install {
    /// `uv.lock`: uv creates and fills the venv from the lock.
    Uv,
    /// pip, into the venv: `-r requirements` and `-e` editable paths.
    Pip {
        requirements: Option<String>,
        editable: Vec<String>,
    },
}

impl Install {
    /// The command, run from the repo root.
    pub fn command(&self, venv: &str) -> String {
        match self {
            // `--inexact`: packages the lock does not name (a tool installed
            // by hand, a dev build) stay; `--frozen`: the lock is the team's.
            Install::Uv if venv == super::requirements::DEFAULT_VENV => {
                "uv sync --frozen --inexact".to_owned()
            }
            Install::Uv => format!(
                "UV_PROJECT_ENVIRONMENT={} uv sync --frozen --inexact",
                shell_words::quote(venv)
            ),
            Install::Pip {
                requirements,
                editable,
            } => {
                let mut words = vec![
                    format!("{venv}/bin/python"),
                    "-m".into(),
                    "pip".into(),
                    "install".into(),
                ];
                if let Some(r) = requirements {
                    words.push("-r".into());
                    words.push(r.clone());
                }
                for e in editable {
                    words.push("-e".into());
                    words.push(e.clone());
                }
                shell_words::join(words)
            }
        }
    }
}

pub fn scan(root: &Path) -> Result<Discovered, ConfigError> {
    let exists = |rel: &str| root.join(rel).exists();
    let mut found = Discovered {
        envrc: root.join(".envrc").is_file(),
        pre_commit: root.join(".pre-commit-config.yaml").is_file(),
        ..Discovered::default()
    };

    let config_ini = match read(root, CONFIG_INI)? {
        Some(text) => Some(ini::parse(&text).map_err(|e| {
            ConfigError::at(
                &root.join(CONFIG_INI),
                Pos {
                    line: e.line,
                    col: 1,
                },
                format!("{CONFIG_INI}: {}", e.message),
            )
        })?),
        None => None,
    };
    let package_json = match read(root, "package.json")? {
        Some(text) => Some(PackageJson::parse(&root.join("package.json"), text)?),
        None => None,
    };

    // Python.
    let py = &mut found.python;
    let venv_section = config_ini
        .as_ref()
        .and_then(|ini| ini.sections.iter().find(|s| s.name.starts_with("venv.")));
    py.version = pin_file(root, ".python-version")?;
    if py.version.is_none()
        && let Some(ini) = &config_ini
    {
        let entry = venv_section
            .and_then(|s| s.get("python").map(|e| (s, e)))
            .or_else(|| {
                ini.section("python")
                    .and_then(|s| s.get("version").map(|e| (s, e)))
            });
        if let Some((section, entry)) = entry {
            py.version = Some(pinned(
                &entry.value,
                Source::field(CONFIG_INI, &format!("[{}] {}", section.name, entry.key))
                    .at(entry.line),
                &root.join(CONFIG_INI),
                Pos {
                    line: entry.line,
                    col: 1,
                },
            )?);
        }
    }
    py.venv = venv_section
        .and_then(|s| s.get("path"))
        .map(|e| e.value.clone())
        .filter(|v| !v.is_empty());

    let pyproject = match read(root, "pyproject.toml")? {
        Some(text) => Some(parse_toml(&root.join("pyproject.toml"), &text)?),
        None => None,
    };
    let setup_cfg = match read(root, "setup.cfg")? {
        Some(text) => ini::parse(&text).ok(),
        None => None,
    };
    let setup_py = exists("setup.py");
    // A build backend makes the repo a package, unless uv is told it is
    // only a workspace (`tool.uv.package = false`).
    let installable = setup_py
        || pyproject.as_ref().is_some_and(|t| {
            toml_get(t, &["build-system"]).is_some_and(toml::Value::is_table)
                && toml_get(t, &["tool", "uv", "package"]).and_then(toml::Value::as_bool)
                    != Some(false)
        });
    if installable {
        py.project = pyproject
            .as_ref()
            .and_then(|t| {
                toml_get(t, &["project", "name"])
                    .or_else(|| toml_get(t, &["tool", "poetry", "name"]))
                    .and_then(toml::Value::as_str)
                    .map(str::to_owned)
            })
            .or_else(|| {
                setup_cfg
                    .as_ref()
                    .and_then(|c| c.section("metadata")?.get("name"))
                    .map(|e| e.value.clone())
            });
    }
    let requirements = requirements_file(root)?;
    let ini_requirements = venv_section
        .and_then(|s| s.get("requirements"))
        .map(|e| e.value.clone())
        .filter(|v| !v.is_empty());
    let ini_editable: Vec<String> = venv_section
        .and_then(|s| s.get("editable"))
        .map(|e| {
            e.value
                .lines()
                .map(str::to_owned)
                .filter(|l| !l.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let (install, install_source) = if exists("uv.lock") {
        (Some(Install::Uv), Some("uv.lock".to_owned()))
    } else if ini_requirements.is_some() || !ini_editable.is_empty() {
        let install = Install::Pip {
            requirements: ini_requirements.clone(),
            editable: ini_editable,
        };
        (Some(install), Some(CONFIG_INI.to_owned()))
    } else if requirements.is_some() || installable {
        let install = Install::Pip {
            requirements: requirements.clone(),
            editable: if installable {
                vec![".".to_owned()]
            } else {
                Vec::new()
            },
        };
        let source = requirements.clone().or_else(|| {
            ["pyproject.toml", "setup.py"]
                .into_iter()
                .find(|f| exists(f))
                .map(str::to_owned)
        });
        (Some(install), source)
    } else {
        (None, None)
    };
    py.install = install;
    py.install_source = install_source;
    for file in ["pyproject.toml", "setup.cfg", "setup.py", "uv.lock"] {
        if exists(file) {
            py.inputs.push(file.to_owned());
        }
    }
    for file in ini_requirements.iter().chain(requirements.iter()) {
        if !py.inputs.contains(file) {
            py.inputs.push(file.clone());
        }
    }
    py.is_project = py.version.is_some()
        || exists(".python-version")
        || pyproject.is_some()
        || setup_py
        || !py.inputs.is_empty()
        || venv_section.is_some();

    // Node.
    let node = &mut found.node;
    node.is_used = package_json.is_some()
        || exists(".node-version")
        || exists(".nvmrc")
        || config_ini
            .as_ref()
            .is_some_and(|i| i.section("node").is_some());
    let node_section = config_ini.as_ref().and_then(|i| i.section("node"));
    let ini_version = node_section
        .and_then(|section| section.get("version"))
        .map(|entry| {
            pinned(
                &entry.value,
                Source::field(CONFIG_INI, "[node] version").at(entry.line),
                &root.join(CONFIG_INI),
                Pos {
                    line: entry.line,
                    col: 1,
                },
            )
        })
        .transpose()?;
    node.version = pin_file(root, ".node-version")?;
    if node.version.is_none() {
        node.version = ini_version.clone();
    }
    if node.version.is_none() {
        node.version = pin_file(root, ".nvmrc")?;
    }
    if node.version.is_none()
        && let Some(pkg) = &package_json
    {
        node.version = pkg.field_pin(&["volta", "node"])?;
    }
    if node.version.is_none()
        && let Some(pkg) = &package_json
    {
        node.version = pkg.field_pin(&["engines", "node"])?;
    }
    if let (Some(section), Some(version)) = (node_section, &ini_version) {
        let key = platform_key();
        if let (Some(url), Some(sha256)) =
            (section.get(&key), section.get(&format!("{key}_sha256")))
        {
            node.dist = Some(NodeDist {
                version: version.written.clone(),
                url: url.value.clone(),
                sha256: sha256.value.to_ascii_lowercase(),
                source: Source::field(CONFIG_INI, &format!("[node] {key}")).at(url.line),
                sha256_source: Source::field(CONFIG_INI, &format!("[node] {key}_sha256"))
                    .at(sha256.line),
            });
        }
    }

    // pnpm.
    let pnpm = &mut found.pnpm;
    pnpm.lockfile = exists("pnpm-lock.yaml");
    pnpm.workspace = exists("pnpm-workspace.yaml");
    let mut names_pnpm = false;
    if let Some(pkg) = &package_json {
        if let Some((pin, sha512)) = pkg.package_manager()? {
            names_pnpm = true;
            pnpm.version = Some(pin);
            pnpm.package_manager = true;
            pnpm.sha512 = sha512;
        } else if pkg
            .string(&["packageManager"])
            .is_none_or(|s| s.starts_with("pnpm"))
        {
            pnpm.version = pkg.field_pin(&["engines", "pnpm"])?;
            names_pnpm = pnpm.version.is_some();
        }
    }
    pnpm.is_used = names_pnpm || pnpm.lockfile;

    found.prek = exists("prek.toml")
        || ["uv.lock", "pyproject.toml"]
            .into_iter()
            .chain(requirements.as_deref())
            .chain(ini_requirements.as_deref())
            .any(|file| mentions_prek(root, file));
    Ok(found)
}

/// Whether a lock, requirements file or `pyproject.toml` depends on prek:
/// a `name = "prek"` entry (uv.lock), a `prek` requirement line, or `"prek`
/// in a dependency list.
fn mentions_prek(root: &Path, file: &str) -> bool {
    let Ok(text) = std::fs::read_to_string(root.join(file)) else {
        return false;
    };
    text.lines().map(str::trim).any(|line| {
        line == "name = \"prek\""
            || line.strip_prefix("prek").is_some_and(|rest| {
                rest.is_empty() || rest.starts_with(['=', '>', '<', '~', '!', ' ', ';', '['])
            })
            || line.contains("\"prek\"")
            || line.contains("\"prek=")
            || line.contains("\"prek>")
    })
}

/// This machine in sentry-devenv's `config.ini` keys: Python's
/// `platform.system().lower()` and `platform.machine()` (`linux_x86_64`,
/// `linux_aarch64`, `darwin_arm64`, `darwin_x86_64`).
pub fn platform_key() -> String {
    let system = match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    };
    let machine = match (system, std::env::consts::ARCH) {
        ("darwin", "aarch64") => "arm64",
        (_, arch) => arch,
    };
    format!("{system}_{machine}")
}

/// The steps `devenv sync` runs when `x-devenv` lists none.
pub fn default_sync(found: &Discovered, python: Option<&PythonReq>, pnpm: bool) -> Vec<SyncStep> {
    let mut steps = Vec::new();
    let discovered = |file: &str| Source::file(file);
    if let Some(py) = python
        && let Some(install) = &py.install
    {
        steps.push(SyncStep {
            name: "python-deps".to_owned(),
            command: install.clone(),
            inputs: found.python.inputs.clone(),
            source: discovered(&install_source(found, py)),
        });
    }
    if pnpm {
        let mut inputs = vec!["package.json".to_owned()];
        if found.pnpm.lockfile {
            inputs.push("pnpm-lock.yaml".to_owned());
        }
        if found.pnpm.workspace {
            inputs.push("pnpm-workspace.yaml".to_owned());
        }
        steps.push(SyncStep {
            name: "js-deps".to_owned(),
            // A lock is the team's resolution: install it, never rewrite it.
            command: if found.pnpm.lockfile {
                "pnpm install --frozen-lockfile"
            } else {
                "pnpm install"
            }
            .to_owned(),
            source: discovered(if found.pnpm.lockfile {
                "pnpm-lock.yaml"
            } else {
                "package.json"
            }),
            inputs,
        });
    }
    if found.pre_commit {
        steps.push(SyncStep {
            name: "hooks".to_owned(),
            command: if found.prek {
                "prek install"
            } else {
                "pre-commit install"
            }
            .to_owned(),
            inputs: vec![".pre-commit-config.yaml".to_owned()],
            source: discovered(".pre-commit-config.yaml"),
        });
    }
    steps
}

/// Where the Python step comes from: the file that decided the discovered
/// install command, or the config file when `x-devenv` gave the command.
fn install_source(found: &Discovered, py: &PythonReq) -> String {
    let discovered = found.python.install.as_ref().map(|i| i.command(&py.venv));
    match &found.python.install_source {
        Some(file) if discovered == py.install => file.clone(),
        _ => super::requirements::CONFIG_FILE.to_owned(),
    }
}

/// The file's text; `None` when it does not exist.
fn read(root: &Path, rel: &str) -> Result<Option<String>, ConfigError> {
    let path = root.join(rel);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text)),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::IsADirectory
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(ConfigError::whole_file(
            &path,
            format!("cannot read {rel}: {e}"),
        )),
    }
}

fn pinned(text: &str, source: Source, file: &Path, pos: Pos) -> Result<Pinned, ConfigError> {
    let req = VersionReq::parse(text).map_err(|e| {
        ConfigError::at(file, pos, format!("{source}: {e}"))
            .with_hint("write a version such as 22.11.0, or a range such as >=22")
    })?;
    Ok(Pinned {
        req,
        written: text.to_owned(),
        source,
    })
}

/// Node's LTS code names, as `.nvmrc` may say `lts/jod`.
const NODE_LTS: &[(&str, u64)] = &[
    ("argon", 4),
    ("boron", 6),
    ("carbon", 8),
    ("dubnium", 10),
    ("erbium", 12),
    ("fermium", 14),
    ("gallium", 16),
    ("hydrogen", 18),
    ("iron", 20),
    ("jod", 22),
    ("krypton", 24),
];

/// A one-version file (`.python-version`, `.nvmrc`, `.node-version`): its
/// first line that is not blank or a comment.
fn pin_file(root: &Path, rel: &str) -> Result<Option<Pinned>, ConfigError> {
    let Some(text) = read(root, rel)? else {
        return Ok(None);
    };
    let Some((index, line)) = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i, l.trim()))
        .find(|(_, l)| !l.is_empty() && !l.starts_with('#'))
    else {
        return Ok(None);
    };
    let value = match line.strip_prefix("lts/") {
        Some(name) => match NODE_LTS.iter().find(|(n, _)| name.eq_ignore_ascii_case(n)) {
            Some((_, major)) => major.to_string(),
            None => return Ok(None),
        },
        None => line.to_owned(),
    };
    // `system`, `node`, `stable`, `pypy3.10`, `3.13t`: a manager's name for
    // something that is not a version we can compare.
    let Ok(req) = VersionReq::parse(&value) else {
        return Ok(None);
    };
    Ok(Some(Pinned {
        req,
        written: line.to_owned(),
        source: Source::file(rel).at(index + 1),
    }))
}

/// The requirements file pip should install: the development one first.
fn requirements_file(root: &Path) -> Result<Option<String>, ConfigError> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Ok(None);
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with("requirements") && n.ends_with(".txt"))
        .collect();
    names.sort();
    for preferred in [
        "requirements-dev.txt",
        "requirements-dev-frozen.txt",
        "requirements.txt",
    ] {
        if names.iter().any(|n| n == preferred) {
            return Ok(Some(preferred.to_owned()));
        }
    }
    Ok(names.into_iter().next())
}

struct PackageJson {
    file: std::path::PathBuf,
    text: String,
    value: serde_json::Value,
}

impl PackageJson {
    fn parse(file: &Path, text: String) -> Result<PackageJson, ConfigError> {
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            ConfigError::at(
                file,
                Pos {
                    line: e.line(),
                    col: e.column().max(1),
                },
                format!("package.json is not valid JSON: {e}"),
            )
        })?;
        Ok(PackageJson {
            file: file.to_owned(),
            text,
            value,
        })
    }

    fn string(&self, path: &[&str]) -> Option<&str> {
        path.iter().try_fold(&self.value, |v, k| v.get(k))?.as_str()
    }

    /// Where a field's value is written, for errors: the first occurrence of
    /// the value after its key. JSON has no positions once parsed, and the
    /// fields read here are short and distinctive.
    fn pos(&self, path: &[&str], value: &str) -> Pos {
        let mut from = 0;
        for key in path {
            if let Some(i) = self.text[from..].find(&format!("\"{key}\"")) {
                from += i;
            }
        }
        let quoted = serde_json::to_string(value).unwrap_or_default();
        let at = self.text[from..].find(&quoted).map_or(from, |i| from + i);
        pos_at(&self.text, at)
    }

    fn field_pin(&self, path: &[&str]) -> Result<Option<Pinned>, ConfigError> {
        let Some(value) = self.string(path) else {
            return Ok(None);
        };
        let pos = self.pos(path, value);
        pinned(
            value,
            Source::field("package.json", &path.join(".")).at(pos.line),
            &self.file,
            pos,
        )
        .map(Some)
    }

    /// `"packageManager": "pnpm@9.15.0+sha512.…"`, as corepack reads it:
    /// an exact version, and the hex SHA-512 of its tarball after
    /// `+sha512.` when given. `None` when the field is missing or names
    /// another package manager.
    fn package_manager(&self) -> Result<Option<(Pinned, Option<String>)>, ConfigError> {
        let Some(value) = self.string(&["packageManager"]) else {
            return Ok(None);
        };
        let Some(spec) = value.strip_prefix("pnpm@") else {
            return Ok(None);
        };
        let (version, hash) = match spec.split_once('+') {
            Some((version, hash)) => (version, Some(hash)),
            None => (spec, None),
        };
        let pos = self.pos(&["packageManager"], value);
        let at = |message: String, hint: &str| {
            ConfigError::at(&self.file, pos, message).with_hint(hint.to_owned())
        };
        let req = VersionReq::parse(version)
            .ok()
            .filter(|r| r.exact().is_some())
            .ok_or_else(|| {
                at(
                    format!("packageManager `{value}` does not pin an exact pnpm version"),
                    "corepack needs an exact version, such as \"pnpm@10.4.1\"",
                )
            })?;
        let sha512 = match hash {
            None => None,
            Some(hash) => match hash.strip_prefix("sha512.") {
                Some(hex) if hex.len() == 128 && hex.chars().all(|c| c.is_ascii_hexdigit()) => {
                    Some(hex.to_ascii_lowercase())
                }
                _ => {
                    return Err(at(
                        format!("packageManager `{value}`: `+{hash}` is not a sha512 hash"),
                        "write it as corepack does: pnpm@10.4.1+sha512.<128 hex digits>, or leave the hash out",
                    ));
                }
            },
        };
        Ok(Some((
            Pinned {
                req,
                written: version.to_owned(),
                source: Source::field("package.json", "packageManager").at(pos.line),
            },
            sha512,
        )))
    }
}

/// A TOML document; not valid TOML is an error at its position, as for
/// `package.json`: pip and uv would refuse the file too.
fn parse_toml(file: &Path, text: &str) -> Result<toml::Table, ConfigError> {
    let rel = file.file_name().unwrap_or_default().to_string_lossy();
    text.parse::<toml::Table>().map_err(|e| {
        let message = format!("{rel} is not valid TOML: {}", e.message());
        match e.span() {
            Some(span) => ConfigError::at(file, pos_at(text, span.start), message),
            None => ConfigError::whole_file(file, message),
        }
    })
}

/// The value at `path` (`["tool", "uv", "package"]`), however the document
/// spells it: `[tool.uv]` and `package = …`, `[tool]` and `uv.package = …`,
/// or inline tables.
fn toml_get<'a>(table: &'a toml::Table, path: &[&str]) -> Option<&'a toml::Value> {
    let (last, parents) = path.split_last()?;
    parents
        .iter()
        .try_fold(table, |t, key| t.get(*key)?.as_table())?
        .get(*last)
}

/// Line and column (in characters, from 1) of byte `offset` in `text`.
fn pos_at(text: &str, offset: usize) -> Pos {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    Pos { line, col }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (rel, text) in files {
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn node_pins_come_before_ranges_and_names_pin_nothing() {
        let dir = repo(&[
            (".nvmrc", "lts/*\n"),
            ("package.json", r#"{"engines": {"node": ">=20"}}"#),
        ]);
        let found = scan(dir.path()).unwrap();
        let pin = found.node.version.unwrap();
        assert_eq!(pin.req.as_str(), ">=20");
        assert_eq!(pin.source.to_string(), "package.json:1 (engines.node)");

        let dir = repo(&[
            (".nvmrc", "# team pin\nlts/iron\n"),
            ("package.json", r#"{"volta": {"node": "22.11.0"}}"#),
        ]);
        let pin = scan(dir.path()).unwrap().node.version.unwrap();
        assert_eq!(
            (pin.req.as_str(), pin.source.to_string().as_str()),
            ("20", ".nvmrc:2")
        );
    }

    #[test]
    fn package_json_errors_have_positions() {
        let dir = repo(&[("package.json", "{\n  \"name\": \"x\",\n}\n")]);
        let e = scan(dir.path()).unwrap_err();
        assert!(
            e.message.starts_with("package.json is not valid JSON"),
            "{e:?}"
        );
        assert_eq!(e.pos.unwrap().line, 3);

        let dir = repo(&[("package.json", "{\n  \"packageManager\": \"pnpm@10\"\n}\n")]);
        let e = scan(dir.path()).unwrap_err();
        assert_eq!(
            e.message,
            "packageManager `pnpm@10` does not pin an exact pnpm version"
        );
        assert_eq!(e.pos.unwrap().to_string(), "2:21");

        let dir = repo(&[("package.json", "{\"engines\": {\"node\": \"soon\"}}")]);
        let e = scan(dir.path()).unwrap_err();
        assert_eq!(
            e.message,
            "package.json:1 (engines.node): `soon` is not a version or version range"
        );
    }

    #[test]
    fn uv_projects() {
        let dir = repo(&[
            ("uv.lock", ""),
            (
                "pyproject.toml",
                "[project]\nname = \"tool\"\n[build-system]\nrequires = []\n[tool.uv]\npackage = false\n",
            ),
        ]);
        let found = scan(dir.path()).unwrap();
        assert!(found.python.is_project);
        assert_eq!(found.python.install, Some(Install::Uv));
        assert_eq!(
            found.python.project, None,
            "a virtual uv project is not installed"
        );
        assert_eq!(found.python.install_source.as_deref(), Some("uv.lock"));
    }

    /// What a repo with only this `pyproject.toml` installs: whether it is
    /// a package (`pip install -e .`), and its name.
    fn package(pyproject: &str) -> (bool, Option<String>) {
        let dir = repo(&[("pyproject.toml", pyproject)]);
        let python = scan(dir.path()).unwrap().python;
        let editable = matches!(
            &python.install,
            Some(Install::Pip { editable, .. }) if editable == &["."]
        );
        (editable, python.project)
    }

    #[test]
    fn pyproject_tables_headers_dotted_keys_and_inline() {
        let named = |name: &str| (true, Some(name.to_owned()));
        // Headers, a comment after the value, another key in the table.
        assert_eq!(
            package(
                "[build-system]\nrequires = [\"setuptools\"]\n\n[project]\nname = \"sentry-kafka\" # the name\nversion = \"1\"\n"
            ),
            named("sentry-kafka")
        );
        assert_eq!(
            package("[build-system]\nrequires = []\n[tool.poetry]\nname = 'poetic'\n"),
            named("poetic")
        );
        assert_eq!(
            package("[project]\nname = \"app\"\n"),
            (false, None),
            "no build backend: not a package"
        );
        // `package = false` under each spelling of `tool.uv`.
        for virtual_project in [
            "[build-system]\n[tool.uv]\npackage = false\n",
            "tool.uv.package = false\n[build-system]\n",
            "[build-system]\n[tool]\nuv.package = false\n",
            "tool = { uv = { package = false } }\n[build-system]\n",
            "[build-system]\n[tool]\nuv = { package = false }\n",
        ] {
            assert_eq!(package(virtual_project), (false, None), "{virtual_project}");
        }
        assert_eq!(
            package("[build-system]\n[tool.uv]\npackage = true\n[project]\nname = \"p\"\n"),
            named("p")
        );
        // Inline and dotted tables for the build system and the name.
        assert_eq!(
            package("build-system = { requires = [] }\nproject = { name = \"inline\" }\n"),
            named("inline")
        );
        assert_eq!(
            package("build-system.requires = []\nproject.name = \"dotted\"\n"),
            named("dotted")
        );
        // `[[tool.x]]` is an array of tables, not the table the name is in.
        assert_eq!(
            package("[build-system]\n[[project]]\nname = \"x\"\n"),
            (true, None)
        );
    }

    #[test]
    fn pyproject_errors_have_positions() {
        let dir = repo(&[("pyproject.toml", "[project]\nname = \"a\"\nname = \"b\"\n")]);
        let e = scan(dir.path()).unwrap_err();
        assert_eq!(e.message, "pyproject.toml is not valid TOML: duplicate key");
        assert_eq!(e.pos.unwrap().to_string(), "3:1");
        assert!(e.file.ends_with("pyproject.toml"));

        let dir = repo(&[("pyproject.toml", "[project]\nname = \"é\" x\n")]);
        let e = scan(dir.path()).unwrap_err();
        assert_eq!(e.pos.unwrap().to_string(), "2:12", "{e:?}");
    }

    #[test]
    fn yarn_projects_do_not_need_pnpm() {
        let dir = repo(&[("package.json", r#"{"packageManager": "yarn@1.22.22"}"#)]);
        let found = scan(dir.path()).unwrap();
        assert!(found.node.is_used);
        assert!(!found.pnpm.is_used);
    }

    #[test]
    fn explicit_values_win_field_by_field() {
        let dir = repo(&[
            (".python-version", "3.12\n"),
            (".nvmrc", "20\n"),
            (".envrc", "layout python\n"),
            (
                "devservices/config.yml",
                "x-devenv:\n  python: {version: \"3.13\", install: make develop}\n  direnv: false\n",
            ),
        ]);
        let reqs = super::super::requirements::load(dir.path()).unwrap();
        let python = reqs.python.unwrap();
        assert_eq!(python.version.unwrap().req.as_str(), "3.13");
        assert_eq!(python.install.as_deref(), Some("make develop"));
        assert_eq!(reqs.node.unwrap().version.req.as_str(), "20");
        assert!(!reqs.direnv);
        assert_eq!(reqs.sync[0].command, "make develop");
        assert_eq!(reqs.sync[0].source.to_string(), "devservices/config.yml");
    }

    #[test]
    fn an_unrelated_repo_needs_nothing() {
        let dir = repo(&[("README.md", "hi\n")]);
        let reqs = super::super::requirements::load(dir.path()).unwrap();
        assert!(reqs.python.is_none() && reqs.node.is_none() && reqs.pnpm.is_none());
        assert!(!reqs.direnv);
        assert!(reqs.sync.is_empty());
    }

    #[test]
    fn pip_install_command_is_quoted() {
        let install = Install::Pip {
            requirements: Some("requirements dev.txt".to_owned()),
            editable: vec![".".to_owned()],
        };
        assert_eq!(
            install.command(".venv"),
            ".venv/bin/python -m pip install -r 'requirements dev.txt' -e ."
        );
    }
}
