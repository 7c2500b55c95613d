//! The repo's venv, made by the Python it pins. With uv on PATH it is
//! `uv venv --python X` (uv also installs a Python it does not find, where
//! it can download one); without, `pythonX.Y -m venv`. The interpreter is
//! looked for where uv looks (PATH, pyenv, uv's own Pythons) and handed to
//! either by its path, so both make the same venv.
//!
//! Whether the venv is right is read from its `pyvenv.cfg` and a look at
//! `bin/python`, without starting Python: a no-op sync starts nothing. A
//! venv made by another Python, or whose interpreter is gone, is removed
//! and made again, and sync says so.

use super::{ProvisionError, Provisioned, Site};
use crate::toolchain::python::{self, venv_version};
use crate::toolchain::requirements::PythonReq;
use crate::toolchain::run::{self, FIX_TIMEOUT};
use crate::toolchain::sync::{Event, Observer};
use crate::toolchain::version::Version;
use std::path::Path;

/// What the venv directory holds.
#[derive(Debug, PartialEq, Eq)]
enum State {
    Missing,
    /// Made with the pinned Python (or with any, when nothing is pinned).
    Ready(Option<Version>),
    /// Not usable as it is; why.
    Wrong(String),
}

fn inspect(dir: &Path, req: &PythonReq) -> State {
    if dir.symlink_metadata().is_err() {
        return State::Missing;
    }
    let Ok(cfg) = std::fs::read_to_string(dir.join("pyvenv.cfg")) else {
        return State::Wrong("it has no pyvenv.cfg".to_owned());
    };
    let made_with = venv_version(&cfg);
    if let (Some(pin), Some(v)) = (&req.version, made_with)
        && !pin.req.matches(&v)
    {
        return State::Wrong(format!(
            "it was made with Python {v}; {} requires {}",
            pin.source, pin.req
        ));
    }
    // `metadata` follows the link: a venv whose interpreter was removed
    // (a pyenv or Homebrew upgrade) has a dangling `bin/python`.
    if std::fs::metadata(dir.join("bin/python")).is_err() {
        return State::Wrong("its bin/python is gone".to_owned());
    }
    State::Ready(made_with)
}

/// Makes the venv of `req` when it is missing or wrong. `seed`: put pip in
/// it (the repo installs with pip; uv's venvs have none by default).
pub(crate) fn provision(
    site: &Site,
    req: &PythonReq,
    seed: bool,
    observer: &mut dyn Observer,
) -> Result<Provisioned, ProvisionError> {
    let venv = &req.venv;
    let dir = site.root.join(venv);
    match inspect(&dir, req) {
        State::Ready(Some(v)) => {
            return Ok(Provisioned::Ready(format!("{venv} has Python {v}")));
        }
        State::Ready(None) => return Ok(Provisioned::Ready(format!("{venv} exists"))),
        State::Missing => {}
        State::Wrong(why) => {
            observer.event(Event::ToolNote {
                tool: "venv",
                text: &format!("recreating {venv}: {why}"),
            });
            std::fs::remove_dir_all(&dir).map_err(|source| ProvisionError::Io {
                action: "remove",
                path: dir.clone(),
                source,
            })?;
        }
    }

    let pin = req.version.as_ref();
    let found = python::find(site.root, site.env, pin);
    let uv = site.env.which("uv", site.root);
    let mut env = site.env.clone();
    // A venv active in the caller's shell must not be the one uv or pip
    // thinks it works on.
    env.remove("VIRTUAL_ENV");
    let (cmd, how) = match (&uv, &found.matching) {
        (Some(uv), matching) => {
            let python = match matching {
                Some(i) => i.path.display().to_string(),
                None => pin.map_or("3".to_owned(), |p| p.written.clone()),
            };
            let mut cmd = run::command(uv, site.root, &env);
            cmd.args(["venv", "--python", &python]);
            if seed {
                cmd.arg("--seed");
            }
            cmd.arg(venv);
            (cmd, "uv venv")
        }
        (None, Some(i)) => {
            let mut cmd = run::command(&i.path, site.root, &env);
            cmd.args(["-m", "venv", venv]);
            (cmd, "venv")
        }
        (None, None) => return Err(not_found(req, &found, None, false)),
    };
    let shown = run::display(&cmd);
    observer.event(Event::ToolInstalling {
        tool: "venv",
        detail: &format!("{venv} with `{shown}`"),
    });
    let failed = |detail: String| ProvisionError::Venv {
        command: shown.clone(),
        detail,
    };
    let out = run::run(cmd, FIX_TIMEOUT).map_err(|e| failed(e.to_string()))?;
    if !out.success() {
        let _ = std::fs::remove_dir_all(&dir);
        let last = out.error_line().to_owned();
        return Err(if found.matching.is_none() {
            not_found(req, &found, Some(&last), uv.is_some())
        } else {
            failed(last)
        });
    }
    match inspect(&dir, req) {
        State::Ready(made_with) => Ok(Provisioned::Installed(format!(
            "{venv} with Python {} ({how})",
            made_with.map_or_else(|| "3".to_owned(), |v| v.to_string())
        ))),
        State::Missing => Err(failed("it made no venv".to_owned())),
        State::Wrong(why) => Err(failed(format!("the venv it made is not right: {why}"))),
    }
}

fn not_found(
    req: &PythonReq,
    found: &python::Found,
    uv_said: Option<&str>,
    uv: bool,
) -> ProvisionError {
    let mut seen: Vec<String> = found
        .others
        .iter()
        .map(|i| format!("{} is {}", i.name, i.version))
        .collect();
    if seen.is_empty() {
        seen.push("no other Python either".to_owned());
    }
    let mut detail = format!(
        " on PATH, in pyenv or among uv's Pythons ({})",
        seen.join("; ")
    );
    if let Some(said) = uv_said {
        detail.push_str(&format!(", and uv could not install it: {said}"));
    }
    let (version, required_by) = match &req.version {
        Some(p) => (p.written.clone(), p.source.to_string()),
        None => ("3".to_owned(), "the repo's Python files".to_owned()),
    };
    ProvisionError::PythonNotFound {
        version,
        required_by,
        detail,
        uv,
    }
}
