//! Loading one `devservices/config.yml`: read → parse → interpolate → type →
//! validate. Everything that can be checked within one file is checked here;
//! what needs other repos (remote dependencies) is the plan's job.

pub(crate) mod compose;
pub(crate) mod devservices;
pub(crate) mod dotenv;
pub(crate) mod duration;
pub(crate) mod error;
pub(crate) mod interpolate;
pub(crate) mod signal;
mod validate;
pub(crate) mod value;
pub(crate) mod yaml;

pub use compose::Service;
pub(crate) use compose::{Network, Volume};
pub(crate) use devservices::{Autorestart, Program, Remote, ServiceMeta};
pub use error::ConfigError;
pub(crate) use error::{Reporter, Warning};
pub(crate) use signal::StopSignal;

use indexmap::IndexMap;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use yaml::{Node, NodeKind};

/// Top-level keys devrig reads; others (besides `x-…`) are warned about.
const TOP_LEVEL_KEYS: &[&str] = &["version", "name", "services", "volumes", "networks"];

/// compose's rule for service names (`^[a-zA-Z0-9._-]+$`), also applied to
/// programs: a name becomes part of container names and of log file
/// names, so it can hold no `/` and no other character a path or the
/// engine would read differently.
pub(crate) fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// What [`is_valid_name`] accepts, for hints.
pub(crate) const NAME_HINT: &str = "use letters, digits, `.`, `-` and `_`";

/// One repo's devservices config, fully read and validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// The config file, absolute.
    pub file: PathBuf,
    /// The directory holding the file; relative paths are resolved against it.
    pub(crate) dir: PathBuf,
    /// The `x-sentry-service-config` block: name, dependencies, modes.
    pub(crate) meta: ServiceMeta,
    /// `x-programs`: what runs on the host.
    pub(crate) programs: IndexMap<String, Program>,
    /// The compose services, normalized as `docker compose config` prints them.
    pub services: IndexMap<String, Service>,
    pub(crate) volumes: IndexMap<String, Volume>,
    pub(crate) networks: IndexMap<String, Network>,
    /// What devrig ignored or doubts, each with its line.
    pub(crate) warnings: Vec<Warning>,
}

impl Config {
    /// The compose project this config starts: devservices uses `service_name`.
    pub fn project(&self) -> &str {
        &self.meta.service_name
    }

    /// The engine's name for network `key` and whether it is external:
    /// compose's `<project>_<key>`, unless the file names it, and the bare
    /// key for an external network without a name.
    pub fn network_name(&self, project: &str, key: &str) -> (String, bool) {
        let def = self.networks.get(key);
        resource_name(
            project,
            key,
            def.and_then(|n| n.name.as_deref()),
            def.is_some_and(|n| n.external),
        )
    }

    /// Like [`Config::network_name`], for a named volume.
    pub fn volume_name(&self, project: &str, key: &str) -> (String, bool) {
        let def = self.volumes.get(key);
        resource_name(
            project,
            key,
            def.and_then(|v| v.name.as_deref()),
            def.is_some_and(|v| v.external),
        )
    }
}

fn resource_name(project: &str, key: &str, name: Option<&str>, external: bool) -> (String, bool) {
    let name = match name {
        Some(name) => name.to_owned(),
        None if external => key.to_owned(),
        None => format!("{project}_{key}"),
    };
    (name, external)
}

/// Where variables come from: the process environment wins over `.env`.
pub struct Variables {
    process: HashMap<String, String>,
}

impl Variables {
    /// The variables of this process's environment.
    pub fn from_process() -> Self {
        Variables {
            process: std::env::vars().collect(),
        }
    }

    /// Exactly these variables (for tests and differential runs).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Variables {
            process: pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }
}

/// The largest config file read, unless `DEVRIG_CONFIG_MAX_SIZE` says
/// otherwise. Sentry's own is about 10 KB; a file of this size parses in
/// about a second, and one over it is refused before it is read.
pub const DEFAULT_MAX_SIZE: u64 = 16 << 20;

/// The size limit for config files: `DEVRIG_CONFIG_MAX_SIZE` (bytes, or
/// with KB, MB or GB) or [`DEFAULT_MAX_SIZE`].
pub(crate) fn max_size(file: &Path) -> Result<u64, ConfigError> {
    let Ok(text) = std::env::var("DEVRIG_CONFIG_MAX_SIZE") else {
        return Ok(DEFAULT_MAX_SIZE);
    };
    devservices::parse_byte_size(&text)
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            ConfigError::whole_file(
                file,
                format!("DEVRIG_CONFIG_MAX_SIZE is `{text}`, which is not a size"),
            )
            .with_hint("give bytes or a size such as 64MB (KB, MB and GB are powers of 1024), or unset it for the default of 16MB")
        })
}

/// Reads and validates the config at `file`.
pub fn load(file: &Path, vars: &Variables) -> Result<Config, ConfigError> {
    let file = std::path::absolute(file).unwrap_or_else(|_| file.to_owned());
    let text = read(&file)?;
    load_str(&file, &text, vars)
}

/// The text of `file`: refused past the size limit before it is read, and
/// when it is not UTF-8 with the line and column of the first bad byte.
fn read(file: &Path) -> Result<String, ConfigError> {
    use std::io::Read;
    let cannot_read = |e: std::io::Error| {
        let err = ConfigError::whole_file(file, format!("cannot read the config: {e}"));
        if e.kind() == std::io::ErrorKind::NotFound {
            err.with_hint("run devrig in a repo with devservices/config.yml, pass -c PATH, or create one with `devrig init`")
        } else {
            err
        }
    };
    let limit = max_size(file)?;
    let opened = std::fs::File::open(file).map_err(cannot_read)?;
    let too_large = |known: Option<u64>| {
        let size = known.map_or_else(
            || format!("larger than {}", human_size(limit)),
            |n| match human_size(n) {
                exact if n < 1 << 10 => exact,
                rounded => format!("{rounded} ({n} bytes)"),
            },
        );
        ConfigError::whole_file(
            file,
            format!(
                "the config is {size}, over the limit of {} for a config file",
                human_size(limit)
            ),
        )
        .with_hint(format!(
            "a devservices config is a few KB; if this one is meant to be this large, raise the limit: DEVRIG_CONFIG_MAX_SIZE={}",
            human_size(size_above(known.unwrap_or(limit.saturating_mul(2))))
        ))
    };
    // The length first, so a huge file is refused without reading it; then
    // a bounded read, for what has no length (a pipe) or grew meanwhile.
    if let Ok(meta) = opened.metadata()
        && meta.is_file()
        && meta.len() > limit
    {
        return Err(too_large(Some(meta.len())));
    }
    let mut bytes = Vec::new();
    opened
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(cannot_read)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(None));
    }
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        let before = &bytes[..at];
        let line_start = before
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        // What precedes the bad byte is valid UTF-8: count its characters.
        let col = std::str::from_utf8(&before[line_start..]).map_or(1, |s| s.chars().count() + 1);
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        ConfigError::at(
            file,
            yaml::Pos { line, col },
            format!(
                "the config is not valid UTF-8: byte 0x{:02X} at line {line}, column {col} (shown as \u{FFFD})",
                bytes[at]
            ),
        )
        .with_hint(format!(
            "save it as UTF-8; from Latin-1, for example: iconv -f latin1 -t utf-8 {0} > config.utf8 && mv config.utf8 {0}",
            file.display()
        ))
    })
}

/// The smallest power-of-two number of MB that is at least `bytes`: a
/// limit to suggest that lets this file in.
fn size_above(bytes: u64) -> u64 {
    bytes
        .max(1 << 20)
        .checked_next_power_of_two()
        .unwrap_or(u64::MAX)
}

/// `16MB`, `48.2MB`, `900KB`, `512 bytes`: sizes in the units
/// `DEVRIG_CONFIG_MAX_SIZE` takes (powers of 1024).
fn human_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)];
    for (unit, scale) in UNITS {
        if bytes >= scale {
            return if bytes.is_multiple_of(scale) {
                format!("{}{unit}", bytes / scale)
            } else {
                format!("{:.1}{unit}", bytes as f64 / scale as f64)
            };
        }
    }
    format!("{bytes} bytes")
}

/// Like [`load`], with the text already read; `file` must be absolute.
pub fn load_str(file: &Path, text: &str, vars: &Variables) -> Result<Config, ConfigError> {
    let mut r = Reporter::new(file);
    read_config(&mut r, file, text, vars).map_err(|e| r.explain_unset(e))
}

fn read_config(
    r: &mut Reporter,
    file: &Path,
    text: &str,
    vars: &Variables,
) -> Result<Config, ConfigError> {
    let dir = file.parent().unwrap_or(Path::new("/")).to_owned();
    let repo_root = if dir.file_name().is_some_and(|n| n == "devservices") {
        dir.parent().unwrap_or(&dir).to_owned()
    } else {
        dir.clone()
    };

    let mut root = yaml::parse(text).map_err(|e| ConfigError {
        file: file.to_owned(),
        pos: Some(e.pos),
        message: e.message,
        hint: e.hint,
    })?;
    if root.as_map().is_none() {
        return Err(r.error(
            &root,
            format!("the config must be a mapping, found {}", root.kind_name()),
        ));
    }

    let dotenv = read_dotenv(&dir, vars)?;
    let lookup = |name: &str| vars.process.get(name).or_else(|| dotenv.get(name)).cloned();
    interpolate_tree(r, &mut root, &lookup)?;

    let meta_node = root.get("x-sentry-service-config").ok_or_else(|| {
        r.error(&root, "this is not a devservices config: `x-sentry-service-config` is missing")
            .with_hint("add an `x-sentry-service-config:` block with version, service_name, dependencies and modes (see `devrig init`)")
    })?;
    let meta = devservices::service_meta(r, meta_node)?;

    value::warn_unknown(
        r,
        &root,
        &[TOP_LEVEL_KEYS, &["x-sentry-service-config", "x-programs"]].concat(),
        "top level",
    );

    let programs = match root.get("x-programs").filter(|n| !n.is_null()) {
        Some(node) => devservices::programs(r, node, &repo_root)?,
        None => IndexMap::new(),
    };
    let mut services = IndexMap::new();
    if let Some(node) = root.get("services").filter(|n| !n.is_null()) {
        for (k, v) in value::map(r, node, "services")? {
            let name = value::key(k);
            if !is_valid_name(name) {
                return Err(r
                    .error(k, format!("`{name}` is not a valid service name"))
                    .with_hint(NAME_HINT));
            }
            services.insert(
                name.to_owned(),
                compose::service(r, name, v, &dir, &lookup)?,
            );
        }
    }
    let volumes = match root.get("volumes").filter(|n| !n.is_null()) {
        Some(node) => compose::top_volumes(r, node)?,
        None => IndexMap::new(),
    };
    let networks = match root.get("networks").filter(|n| !n.is_null()) {
        Some(node) => compose::top_networks(r, node)?,
        None => IndexMap::new(),
    };

    let config = Config {
        file: file.to_owned(),
        dir,
        meta,
        programs,
        services,
        volumes,
        networks,
        warnings: Vec::new(),
    };
    validate::config(r, &config)?;
    Ok(Config {
        warnings: std::mem::take(&mut r.warnings),
        ..config
    })
}

fn read_dotenv(dir: &Path, vars: &Variables) -> Result<IndexMap<String, String>, ConfigError> {
    let path = dir.join(".env");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(IndexMap::new());
    };
    let lookup = |name: &str| vars.process.get(name).cloned();
    dotenv::parse(&text, &lookup).map_err(|e| {
        let line = e.line();
        ConfigError::at(&path, yaml::Pos { line, col: 1 }, e.to_string())
    })
}

/// Interpolates every string value except devservices' own `x-` blocks, which
/// devservices reads verbatim (a program's `$VAR` is for its shell to expand).
fn interpolate_tree(
    r: &mut Reporter,
    root: &mut Node,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let NodeKind::Map(entries) = &mut root.kind else {
        return Ok(());
    };
    let mut unset: Vec<(String, yaml::Pos)> = Vec::new();
    for (k, v) in entries.iter_mut() {
        if value::key(k).starts_with("x-") {
            continue;
        }
        interpolate_node(r, v, lookup, &mut unset)?;
    }
    let mut seen = std::collections::HashSet::new();
    for (name, pos) in &unset {
        if seen.insert(name.clone()) {
            r.warnings.push(Warning::at(
                r.file,
                *pos,
                format!("the `{name}` variable is not set; defaulting to a blank string"),
            ));
        }
    }
    r.unset = unset;
    Ok(())
}

/// Where the expression at byte `offset` of a scalar's value starts in the
/// file. Exact for one-line plain and quoted scalars (escapes aside); a
/// multi-line scalar points at its start.
fn expression_pos(start: yaml::Pos, value: &str, plain: bool, offset: usize) -> yaml::Pos {
    match value.get(..offset) {
        Some(before) if !value.contains('\n') => yaml::Pos {
            line: start.line,
            col: start.col + before.chars().count() + usize::from(!plain),
        },
        _ => start,
    }
}

fn interpolate_node(
    r: &Reporter,
    node: &mut Node,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<(String, yaml::Pos)>,
) -> Result<(), ConfigError> {
    let pos = node.pos;
    match &mut node.kind {
        NodeKind::Scalar { text, plain } => {
            if text.contains('$') {
                let done = interpolate::interpolate(text, lookup).map_err(|e| {
                    r.error_at(expression_pos(pos, text, *plain, e.offset()), e.to_string())
                        .with_hint("set the variable, give it a default with ${NAME:-default}, or write $$ for a literal $")
                })?;
                unset.extend(done.unset.into_iter().map(|name| (name, pos)));
                *text = done.value;
                // An interpolated value is a string that fields convert as they need.
                *plain = false;
            }
        }
        NodeKind::Seq(items) => {
            for item in items {
                interpolate_node(r, item, lookup, unset)?;
            }
        }
        NodeKind::Map(entries) => {
            for (_, v) in entries {
                interpolate_node(r, v, lookup, unset)?;
            }
        }
    }
    Ok(())
}
