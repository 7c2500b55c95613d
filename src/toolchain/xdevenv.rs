//! The `x-devenv` block of `devservices/config.yml`: what a repo's toolchain
//! needs, said explicitly.
//!
//! ```yaml
//! x-devenv:
//!   python: {version: "3.13", venv: .venv, install: "uv sync --frozen"}
//!   node: {version: "22"}
//!   package_manager: {name: pnpm, version: "10.x"}
//!   direnv: true
//!   sync:
//!     - name: python
//!       command: uv sync --frozen
//!       inputs: [pyproject.toml, uv.lock]
//! ```
//!
//! Only this block is read (the rest of the file is devservices' business and
//! may not even load without its environment). It is devrig's own block, so
//! an unknown key is an error: a typo must not silently drop a requirement.

use super::requirements::{Pinned, Source, SyncStep};
use super::version::VersionReq;
use crate::config::error::{ConfigError, Reporter};
use crate::config::value;
use crate::config::yaml::{self, Node};
use std::path::{Component, Path};

pub const BLOCK: &str = "x-devenv";

/// The block's contents; every field is `None` when the block leaves it out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct XDevenv {
    pub python: Option<XPython>,
    /// `Some(None)`: a `node:` entry without a version (the default applies).
    pub node: Option<Option<Pinned>>,
    /// `Some(…)` when `package_manager.name` is pnpm, with its version if given.
    pub pnpm: Option<Option<Pinned>>,
    pub direnv: Option<bool>,
    pub sync: Option<Vec<SyncStep>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct XPython {
    pub version: Option<Pinned>,
    pub venv: Option<String>,
    pub install: Option<String>,
}

/// Reads the block from `file`; `Ok(None)` when the file or the block does
/// not exist.
pub fn read(file: &Path) -> Result<Option<XDevenv>, ConfigError> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ConfigError::whole_file(
                file,
                format!("cannot read the config: {e}"),
            ));
        }
    };
    parse(file, &text)
}

/// Like [`read`], with the text already read.
pub fn parse(file: &Path, text: &str) -> Result<Option<XDevenv>, ConfigError> {
    let root = yaml::parse(text).map_err(|e| ConfigError {
        file: file.to_owned(),
        pos: Some(e.pos),
        message: e.message,
        hint: e.hint,
    })?;
    let Some(block) = root.get(BLOCK) else {
        return Ok(None);
    };
    let r = Reporter::new(file);
    if block.is_null() {
        return Ok(Some(XDevenv::default()));
    }
    value::map(&r, block, BLOCK)?;
    value::deny_unknown(
        &r,
        block,
        &["python", "node", "package_manager", "direnv", "sync"],
        BLOCK,
    )?;
    let rel = relative_name(file);
    let mut out = XDevenv::default();
    if let Some(node) = block.get("python").filter(|n| !n.is_null()) {
        out.python = Some(python(&r, &rel, node)?);
    }
    if let Some(node) = block.get("node").filter(|n| !n.is_null()) {
        const WHAT: &str = "x-devenv.node";
        value::map(&r, node, WHAT)?;
        value::deny_unknown(&r, node, &["version"], WHAT)?;
        out.node = Some(
            node.get("version")
                .filter(|n| !n.is_null())
                .map(|v| version(&r, &rel, v, "x-devenv.node.version", "22"))
                .transpose()?,
        );
    }
    if let Some(node) = block.get("package_manager").filter(|n| !n.is_null()) {
        out.pnpm = Some(package_manager(&r, &rel, node)?);
    }
    if let Some(node) = block.get("direnv").filter(|n| !n.is_null()) {
        out.direnv = Some(value::boolean(&r, node, "x-devenv.direnv")?);
    }
    if let Some(node) = block.get("sync").filter(|n| !n.is_null()) {
        out.sync = Some(sync(&r, &rel, node)?);
    }
    Ok(Some(out))
}

/// `devservices/config.yml` for findings, whatever the absolute path.
fn relative_name(file: &Path) -> String {
    let mut parts: Vec<String> = file
        .components()
        .rev()
        .take(2)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.reverse();
    parts.join("/")
}

fn source(rel: &str, node: &Node) -> Source {
    Source::file(rel).at(node.pos.line)
}

/// A version requirement, exact when it is a full version (see
/// [`Pinned::req`]).
fn version(
    r: &Reporter,
    rel: &str,
    node: &Node,
    what: &str,
    example: &str,
) -> Result<Pinned, ConfigError> {
    let written = value::string(r, node, what)?;
    let req = VersionReq::parse(&written).map_err(|e| {
        r.error(node, format!("{what}: {e}")).with_hint(format!(
            "write a version such as \"{example}\", or a range such as \">={example}\""
        ))
    })?;
    Ok(Pinned {
        req,
        written,
        source: source(rel, node),
    })
}

fn python(r: &Reporter, rel: &str, node: &Node) -> Result<XPython, ConfigError> {
    const WHAT: &str = "x-devenv.python";
    value::map(r, node, WHAT)?;
    value::deny_unknown(r, node, &["version", "venv", "install"], WHAT)?;
    let mut out = XPython::default();
    if let Some(v) = node.get("version").filter(|n| !n.is_null()) {
        out.version = Some(version(r, rel, v, "x-devenv.python.version", "3.13")?);
    }
    if let Some(v) = node.get("venv").filter(|n| !n.is_null()) {
        let venv = value::string(r, v, "x-devenv.python.venv")?;
        if !is_inside_repo(&venv) {
            return Err(r
                .error(
                    v,
                    format!("x-devenv.python.venv `{venv}` is not inside the repo"),
                )
                .with_hint("give a path relative to the repo root, such as .venv"));
        }
        out.venv = Some(venv);
    }
    if let Some(v) = node.get("install").filter(|n| !n.is_null()) {
        out.install = Some(command(r, v, "x-devenv.python.install")?);
    }
    Ok(out)
}

fn package_manager(r: &Reporter, rel: &str, node: &Node) -> Result<Option<Pinned>, ConfigError> {
    const WHAT: &str = "x-devenv.package_manager";
    value::map(r, node, WHAT)?;
    value::deny_unknown(r, node, &["name", "version"], WHAT)?;
    let name_node = node.get("name").ok_or_else(|| {
        r.error(node, format!("{WHAT} is missing `name`"))
            .with_hint("add `name: pnpm`")
    })?;
    let name = value::string(r, name_node, "x-devenv.package_manager.name")?;
    if name != "pnpm" {
        return Err(r
            .error(
                name_node,
                format!("package manager `{name}` is not supported"),
            )
            .with_hint("devrig checks pnpm, the package manager Sentry's repos use"));
    }
    node.get("version")
        .filter(|n| !n.is_null())
        .map(|v| version(r, rel, v, "x-devenv.package_manager.version", "10"))
        .transpose()
}

fn sync(r: &Reporter, rel: &str, node: &Node) -> Result<Vec<SyncStep>, ConfigError> {
    let mut steps: Vec<(SyncStep, &Node)> = Vec::new();
    for (i, item) in value::seq(r, node, "x-devenv.sync")?.iter().enumerate() {
        let what = format!("x-devenv.sync[{i}]");
        value::map(r, item, &what)?;
        value::deny_unknown(r, item, &["name", "command", "inputs"], &what)?;
        let required = |k: &str| {
            item.get(k).filter(|n| !n.is_null()).ok_or_else(|| {
                r.error(item, format!("{what} is missing `{k}`"))
                    .with_hint("each sync step has a `name`, a `command` and optionally `inputs`")
            })
        };
        let name_node = required("name")?;
        let name = value::string(r, name_node, &format!("{what}.name"))?;
        if name.trim().is_empty() {
            return Err(r.error(name_node, format!("{what}.name is empty")));
        }
        if let Some((_, first)) = steps.iter().find(|(s, _)| s.name == name) {
            return Err(r
                .error(
                    name_node,
                    format!(
                        "duplicate sync step `{name}` (first defined at line {})",
                        first.pos.line
                    ),
                )
                .with_hint(
                    "step names identify what `devenv sync` has done; give each step its own",
                ));
        }
        let command = command(r, required("command")?, &format!("{what}.command"))?;
        let mut inputs = Vec::new();
        if let Some(list) = item.get("inputs").filter(|n| !n.is_null()) {
            for input in value::seq(r, list, &format!("{what}.inputs"))? {
                let path = value::string(r, input, &format!("{what}.inputs"))?;
                if !is_inside_repo(&path) {
                    return Err(r
                        .error(input, format!("sync input `{path}` is not inside the repo"))
                        .with_hint("inputs are files or directories relative to the repo root"));
                }
                inputs.push(path);
            }
        }
        steps.push((
            SyncStep {
                name,
                command,
                inputs,
                source: source(rel, item),
            },
            name_node,
        ));
    }
    Ok(steps.into_iter().map(|(s, _)| s).collect())
}

/// A shell command: a non-empty string whose quoting is balanced, checked
/// now so that a broken command is reported here with its line rather than
/// by the shell halfway through a sync.
fn command(r: &Reporter, node: &Node, what: &str) -> Result<String, ConfigError> {
    let text = value::string(r, node, what)?;
    match shell_words::split(&text) {
        Ok(words) if !words.is_empty() => Ok(text),
        Ok(_) => Err(r.error(node, format!("{what} is empty"))),
        Err(e) => Err(r.error(node, format!("{what} cannot be split into words: {e}"))),
    }
}

/// A non-empty relative path that does not climb out with `..`.
fn is_inside_repo(path: &str) -> bool {
    let p = Path::new(path);
    !path.trim().is_empty()
        && p.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "/src/app/devservices/config.yml";

    fn parse_ok(text: &str) -> XDevenv {
        parse(Path::new(FILE), text).unwrap().unwrap()
    }

    fn parse_err(text: &str) -> ConfigError {
        parse(Path::new(FILE), text).unwrap_err()
    }

    #[test]
    fn reads_every_field() {
        let x = parse_ok(
            "x-sentry-service-config: {}\nx-devenv:\n  python: {version: \"3.13.1\", venv: .venv, install: \"uv sync --frozen\"}\n  node: {version: 22}\n  package_manager: {name: pnpm, version: \"10.x\"}\n  direnv: false\n  sync:\n    - name: python\n      command: uv sync --frozen\n      inputs: [pyproject.toml, uv.lock]\n    - {name: hooks, command: pre-commit install}\n",
        );
        let python = x.python.unwrap();
        let version = python.version.unwrap();
        assert_eq!(
            version.req.as_str(),
            "3.13.1",
            "a full version is an exact pin"
        );
        assert_eq!(version.written, "3.13.1");
        assert_eq!(version.source.to_string(), "devservices/config.yml:3");
        assert_eq!(python.install.as_deref(), Some("uv sync --frozen"));
        assert_eq!(x.node.unwrap().unwrap().req.as_str(), "22");
        assert_eq!(x.pnpm.unwrap().unwrap().req.as_str(), "10.x");
        assert_eq!(x.direnv, Some(false));
        let sync = x.sync.unwrap();
        assert_eq!(sync.len(), 2);
        assert_eq!(sync[0].inputs, ["pyproject.toml", "uv.lock"]);
        assert!(sync[1].inputs.is_empty());
        assert_eq!(sync[1].source.line, Some(11));
    }

    #[test]
    fn no_block_is_none_and_an_empty_block_is_empty() {
        assert_eq!(parse(Path::new(FILE), "services: {}\n").unwrap(), None);
        assert_eq!(parse_ok("x-devenv:\n"), XDevenv::default());
    }

    #[test]
    fn the_rest_of_the_file_is_not_validated() {
        // Unset variables, unknown compose keys: devservices' concern.
        let x = parse_ok("services:\n  a: {image: \"${NOPE:?}\"}\nx-devenv: {direnv: true}\n");
        assert_eq!(x.direnv, Some(true));
    }

    #[test]
    fn errors_point_at_the_value() {
        let e = parse_err("x-devenv:\n  pyhton: {version: \"3.13\"}\n");
        assert_eq!(e.message, "unknown key `pyhton` in x-devenv");
        assert_eq!(e.pos.unwrap().to_string(), "2:3");

        let e = parse_err("x-devenv:\n  node:\n    version: lts\n");
        assert_eq!(
            e.message,
            "x-devenv.node.version: `lts` is not a version or version range"
        );
        assert_eq!(e.pos.unwrap().to_string(), "3:14");

        let e = parse_err("x-devenv:\n  package_manager: {name: yarn}\n");
        assert_eq!(e.message, "package manager `yarn` is not supported");

        let e = parse_err("x-devenv:\n  direnv: sometimes\n");
        assert_eq!(
            e.message,
            "x-devenv.direnv must be true or false, found `sometimes`"
        );

        let e = parse_err("x-devenv:\n  python: {venv: ../elsewhere}\n");
        assert!(e.message.contains("not inside the repo"), "{e:?}");
    }

    #[test]
    fn sync_steps_are_validated() {
        let e = parse_err("x-devenv:\n  sync:\n    - name: a\n");
        assert_eq!(e.message, "x-devenv.sync[0] is missing `command`");
        let e = parse_err(
            "x-devenv:\n  sync:\n    - {name: a, command: x}\n    - {name: a, command: y}\n",
        );
        assert_eq!(
            e.message,
            "duplicate sync step `a` (first defined at line 3)"
        );
        assert_eq!(e.pos.unwrap().line, 4);
        let e = parse_err("x-devenv:\n  sync:\n    - {name: a, command: \"echo 'x\"}\n");
        assert!(e.message.contains("cannot be split"), "{e:?}");
        let e =
            parse_err("x-devenv:\n  sync:\n    - {name: a, command: x, inputs: [/etc/passwd]}\n");
        assert!(e.message.contains("not inside the repo"), "{e:?}");
        let e = parse_err("x-devenv:\n  sync: {name: a}\n");
        assert_eq!(e.message, "x-devenv.sync must be a list, found a mapping");
        let e = parse_err("x-devenv:\n  sync:\n    - {name: a, command: x, when: always}\n");
        assert_eq!(e.message, "unknown key `when` in x-devenv.sync[0]");
    }

    #[test]
    fn yaml_errors_keep_their_position() {
        let e = parse_err("x-devenv:\n  node: [1, 2\n");
        assert!(e.message.starts_with("invalid YAML"), "{e:?}");
        assert_eq!(e.file, Path::new(FILE));
    }
}
