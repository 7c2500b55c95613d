//! devservices' own blocks: `x-sentry-service-config` (service name,
//! dependencies, modes) and `x-programs` (host processes).

use super::duration::Duration;
use super::error::{ConfigError, Reporter};
use super::value::{self, Result, key};
use super::yaml::{Node, Pos};
use indexmap::IndexMap;
use serde::Serialize;
use std::path::{Path, PathBuf};

pub const SUPPORTED_VERSION: &str = "0.1";
pub const DEFAULT_HEALTHCHECK_TIMEOUT: u64 = 180;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceMeta {
    pub version: String,
    pub service_name: String,
    pub dependencies: IndexMap<String, Dependency>,
    pub modes: IndexMap<String, Mode>,
    pub healthcheck_timeout: u64,
    #[serde(skip)]
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dependency {
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<Remote>,
    #[serde(skip)]
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Remote {
    pub repo_name: String,
    pub branch: String,
    pub repo_link: String,
    pub mode: String,
    #[serde(skip)]
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Mode {
    pub dependencies: Vec<String>,
    #[serde(skip)]
    pub pos: Pos,
    /// Where each entry of `dependencies` is written.
    #[serde(skip)]
    pub entry_pos: Vec<Pos>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Program {
    pub command: String,
    #[serde(skip)]
    pub argv: Vec<String>,
    pub autostart: bool,
    pub autorestart: Autorestart,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub environment: IndexMap<String, String>,
    pub directory: PathBuf,
    pub stop_signal: super::StopSignal,
    pub stop_grace_period: Duration,
    /// How long a start must last to count as started (supervisord's `startsecs`).
    pub start_secs: u64,
    /// Fast failures tolerated before the program is marked fatal.
    pub start_retries: u64,
    /// Rotate the program's log past this size (`stdout_logfile_maxbytes`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_max_bytes: Option<u64>,
    /// Rotated logs kept (`stdout_logfile_backups`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_backups: Option<u32>,
    /// The mode dependencies it needs ready before it starts (devrig's
    /// addition): it then starts as soon as those are, instead of after
    /// every container of the mode.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<ProgramDependency>,
    /// Host ports the program listens on (devrig's addition, which
    /// supervisord ignores): checked against the containers' ports.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ProgramPort>,
    #[serde(skip)]
    pub pos: Pos,
    /// Why it cannot run in this shell: its command, environment or
    /// directory uses a `%(ENV_X)s` whose variable is unset. Kept, not
    /// raised while loading, because only starting it needs the value:
    /// `down`, `status` and `logs` work without it, and whatever starts
    /// it asks [`Program::runnable`] first.
    #[serde(skip)]
    pub unresolved: Option<ConfigError>,
}

impl Program {
    /// The program, if this shell has every variable it expands; else the
    /// error at the first `%(ENV_X)s` whose variable is unset.
    pub fn runnable(&self) -> std::result::Result<&Program, ConfigError> {
        match &self.unresolved {
            Some(e) => Err(e.clone()),
            None => Ok(self),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct ProgramDependency {
    pub name: String,
    #[serde(skip)]
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProgramPort {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    pub port: u16,
    #[serde(skip)]
    pub pos: Pos,
}

pub fn service_meta(r: &mut Reporter, node: &Node) -> Result<ServiceMeta> {
    const WHAT: &str = "x-sentry-service-config";
    value::map(r, node, WHAT)?;
    // devservices ignores keys it does not know here; so do we, loudly.
    value::warn_unknown(
        r,
        node,
        &[
            "version",
            "service_name",
            "dependencies",
            "modes",
            "healthcheck_timeout",
        ],
        WHAT,
    );
    let r = &*r;
    let required = |k: &str| {
        node.get(k).ok_or_else(|| {
            r.error(node, format!("{WHAT} is missing `{k}`"))
                .with_hint(match k {
                    "version" => format!("add `version: {SUPPORTED_VERSION}`"),
                    "service_name" => {
                        "add `service_name: NAME` (it names the compose project)".to_owned()
                    }
                    _ => format!("add `{k}:`"),
                })
        })
    };
    let version_node = required("version")?;
    let version = value::string(r, version_node, "version")?;
    if version != SUPPORTED_VERSION {
        return Err(r
            .error(
                version_node,
                format!("unsupported config version `{version}`"),
            )
            .with_hint(format!(
                "devrig reads version {SUPPORTED_VERSION}, as devservices does"
            )));
    }
    let name_node = required("service_name")?;
    let service_name = value::string(r, name_node, "service_name")?;
    if !valid_project_name(&service_name) {
        return Err(r
            .error(
                name_node,
                format!("service_name `{service_name}` is not a valid compose project name"),
            )
            .with_hint(
                "use lowercase letters, digits, `-` and `_`, starting with a letter or digit",
            ));
    }

    let mut dependencies = IndexMap::new();
    if let Some(deps) = node.get("dependencies").filter(|d| !d.is_null()) {
        for (k, v) in value::map(r, deps, "dependencies")? {
            dependencies.insert(key(k).to_owned(), dependency(r, key(k), k, v)?);
        }
    }

    let modes_node = required("modes")?;
    let mut modes = IndexMap::new();
    for (k, v) in value::map(r, modes_node, "modes")? {
        let what = format!("modes.{}", key(k));
        let entries = if v.is_null() {
            &[][..]
        } else {
            value::seq(r, v, &what)?
        };
        let mut mode = Mode {
            dependencies: Vec::new(),
            pos: k.pos,
            entry_pos: Vec::new(),
        };
        for entry in entries {
            let dep = value::string(r, entry, &what)?;
            if !dependencies.contains_key(&dep) {
                return Err(r
                    .error(
                        entry,
                        format!(
                            "mode `{}` lists `{dep}`, which is not a declared dependency",
                            key(k)
                        ),
                    )
                    .with_hint(format!(
                        "declare it under x-sentry-service-config.dependencies, or use one of: {}",
                        join_or_none(dependencies.keys())
                    )));
            }
            mode.dependencies.push(dep);
            mode.entry_pos.push(entry.pos);
        }
        modes.insert(key(k).to_owned(), mode);
    }
    if !modes.contains_key("default") {
        return Err(r
            .error(modes_node, "modes has no `default` mode")
            .with_hint("add `default: [...]`: it is what `up` starts without --mode"));
    }

    let healthcheck_timeout = match node.get("healthcheck_timeout") {
        Some(t) => match value::unsigned(r, t, "healthcheck_timeout") {
            Ok(secs) if secs > 0 => secs,
            _ => {
                return Err(r
                    .error(
                        t,
                        "healthcheck_timeout must be a positive number of seconds",
                    )
                    .with_hint(format!("the default is {DEFAULT_HEALTHCHECK_TIMEOUT}")));
            }
        },
        None => DEFAULT_HEALTHCHECK_TIMEOUT,
    };

    Ok(ServiceMeta {
        version,
        service_name,
        dependencies,
        modes,
        healthcheck_timeout,
        pos: node.pos,
    })
}

fn dependency(r: &Reporter, name: &str, key_node: &Node, node: &Node) -> Result<Dependency> {
    let what = format!("dependency `{name}`");
    if node.is_null() {
        return Ok(Dependency {
            description: String::new(),
            remote: None,
            pos: key_node.pos,
        });
    }
    value::map(r, node, &what)?;
    value::deny_unknown(r, node, &["description", "remote"], &what)?;
    let description = match node.get("description") {
        Some(d) => value::string(r, d, &format!("{what}.description"))?,
        None => String::new(),
    };
    let remote = match node.get("remote").filter(|n| !n.is_null()) {
        None => None,
        Some(remote) => {
            let rwhat = format!("{what}.remote");
            value::map(r, remote, &rwhat)?;
            value::deny_unknown(
                r,
                remote,
                &["repo_name", "branch", "repo_link", "mode"],
                &rwhat,
            )?;
            let field = |k: &str| -> Result<String> {
                let n = remote.get(k).ok_or_else(|| {
                    r.error(remote, format!("{rwhat} is missing `{k}`"))
                        .with_hint("a remote needs repo_name, branch and repo_link (mode defaults to `default`)")
                })?;
                value::string(r, n, &format!("{rwhat}.{k}"))
            };
            Some(Remote {
                repo_name: field("repo_name")?,
                branch: field("branch")?,
                repo_link: field("repo_link")?,
                mode: match remote.get("mode") {
                    Some(m) => value::string(r, m, &format!("{rwhat}.mode"))?,
                    None => "default".to_owned(),
                },
                pos: remote.pos,
            })
        }
    };
    Ok(Dependency {
        description,
        remote,
        pos: key_node.pos,
    })
}

/// Keys devrig reads in an `x-programs` entry. devservices hands entries to
/// supervisord, so supervisord's spellings (`stopsignal`, `stopwaitsecs`,
/// `environment` as `K="v",K2="v"`) are accepted beside compose-like ones.
const PROGRAM_KEYS: &[&str] = &[
    "command",
    "autostart",
    "autorestart",
    "environment",
    "directory",
    "stop_signal",
    "stopsignal",
    "stop_grace_period",
    "stopwaitsecs",
    "startsecs",
    "startretries",
    "stdout_logfile_maxbytes",
    "stdout_logfile_backups",
    "ports",
    "depends_on",
];

/// supervisord options that devrig's supervisor makes unnecessary: accepted
/// without a warning because it handles their concern itself (process
/// groups are always killed whole; output always goes to devrig's log).
const SUPERVISORD_HANDLED: &[&str] = &[
    "stopasgroup",
    "killasgroup",
    "redirect_stderr",
    "stdout_logfile",
    "stderr_logfile",
    "stderr_logfile_maxbytes",
    "stderr_logfile_backups",
    "priority",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Autorestart {
    Always,
    Never,
    /// supervisord's `unexpected`: restart only on a non-zero exit.
    Unexpected,
}

/// Reads `x-programs`. `repo_root` is where programs run unless `directory` says otherwise.
pub fn programs(
    r: &mut Reporter,
    node: &Node,
    repo_root: &Path,
) -> Result<IndexMap<String, Program>> {
    let mut out = IndexMap::new();
    for (k, v) in value::map(r, node, "x-programs")? {
        let name = key(k);
        if !super::is_valid_name(name) {
            return Err(r
                .error(k, format!("`{name}` is not a valid program name"))
                .with_hint(super::NAME_HINT));
        }
        let what = format!("program `{name}`");
        value::map(r, v, &what)?;
        value::warn_unknown(r, v, &[PROGRAM_KEYS, SUPERVISORD_HANDLED].concat(), &what);
        // A field naming an unset variable is `None`: the first such error
        // is kept in `unresolved`, and what depends on the field's value
        // is not checked (it has none in this shell).
        let mut unresolved = None;
        let mut expand = |n: &Node, field: &str| -> Result<Option<String>> {
            let raw = value::string(r, n, &format!("{what}.{field}"))?;
            match expand_supervisor_vars(&raw, name) {
                Ok(text) => Ok(Some(text)),
                Err(Expansion::Unset { var }) => {
                    unresolved.get_or_insert_with(|| {
                        r.error(
                            n,
                            format!("{what}.{field}: `%(ENV_{var})s` refers to `{var}`, which is not set"),
                        )
                        .with_hint(format!(
                            "set it in this shell (`export {var}=…`) to start the program; stopping it does not need it"
                        ))
                    });
                    Ok(None)
                }
                Err(Expansion::Invalid(e)) => {
                    Err(r.error(n, format!("{what}.{field}: {e}")).with_hint(
                        "supervisord syntax: %(ENV_NAME)s for a variable, %% for a literal %",
                    ))
                }
            }
        };
        let command_node = v.get("command").ok_or_else(|| {
            r.error(v, format!("{what} has no `command`"))
                .with_hint("add `command: <the command line to run>`")
        })?;
        let (command, argv) = match expand(command_node, "command")? {
            Some(command) => {
                let argv = shell_words::split(&command).map_err(|e| {
                    r.error(
                        command_node,
                        format!("{what}.command cannot be split into words: {e}"),
                    )
                    .with_hint("check the quotes in the command")
                })?;
                if argv.is_empty() {
                    return Err(r.error(command_node, format!("{what}.command is empty")));
                }
                (command, argv)
            }
            // As written; never run (`runnable` refuses it).
            None => (
                value::string(r, command_node, &format!("{what}.command"))?,
                Vec::new(),
            ),
        };
        let autostart = match v.get("autostart") {
            Some(n) => value::boolean(r, n, &format!("{what}.autostart"))?,
            None => true,
        };
        let autorestart = match v.get("autorestart") {
            Some(n) if n.scalar_text() == Some("unexpected") => Autorestart::Unexpected,
            Some(n) => {
                if value::boolean(r, n, &format!("{what}.autorestart"))? {
                    Autorestart::Always
                } else {
                    Autorestart::Never
                }
            }
            None => Autorestart::Always,
        };
        let environment = match v.get("environment") {
            None => IndexMap::new(),
            Some(env) if env.as_map().is_none() && env.as_seq().is_none() => {
                match expand(env, "environment")? {
                    Some(text) => parse_supervisor_env(&text).map_err(|e| {
                        r.error(env, format!("{what}.environment: {e}")).with_hint(
                            "use supervisord's KEY=\"value\",KEY2=\"value\" or a YAML mapping",
                        )
                    })?,
                    None => IndexMap::new(),
                }
            }
            Some(env) => value::list_or_map(r, env, &format!("{what}.environment"), '=')?
                .into_iter()
                .map(|(k, v)| (k, v.unwrap_or_default()))
                .collect(),
        };
        let directory = match v.get("directory") {
            Some(d) => match expand(d, "directory")? {
                Some(dir) => PathBuf::from(super::compose::absolutize(repo_root, &dir)),
                None => repo_root.to_owned(),
            },
            None => repo_root.to_owned(),
        };
        let signal_node = v.get("stop_signal").or_else(|| v.get("stopsignal"));
        let stop_signal = match signal_node {
            Some(s) => {
                super::StopSignal::parse(&value::string(r, s, &format!("{what}.stop_signal"))?)
                    .ok_or_else(|| {
                        r.error(
                            s,
                            format!(
                                "{what}.stop_signal is not a signal devrig can stop a program with"
                            ),
                        )
                        .with_hint(format!(
                            "use one of {} (with or without SIG), or its number",
                            super::StopSignal::names().collect::<Vec<_>>().join(", ")
                        ))
                    })?
            }
            None => super::StopSignal::TERM,
        };
        let stop_grace_period = match (v.get("stop_grace_period"), v.get("stopwaitsecs")) {
            (Some(d), _) => value::duration(r, d, &format!("{what}.stop_grace_period"))?,
            (None, Some(secs)) => {
                Duration::from_secs(value::unsigned(r, secs, &format!("{what}.stopwaitsecs"))?)
            }
            (None, None) => Duration::from_secs(10),
        };
        let start_secs = match v.get("startsecs") {
            Some(n) => value::unsigned(r, n, &format!("{what}.startsecs"))?,
            None => 1,
        };
        let start_retries = match v.get("startretries") {
            Some(n) => value::unsigned(r, n, &format!("{what}.startretries"))?,
            None => 3,
        };
        let log_max_bytes = match v.get("stdout_logfile_maxbytes") {
            Some(n) => {
                let text = value::string(r, n, &format!("{what}.stdout_logfile_maxbytes"))?;
                Some(parse_byte_size(&text).ok_or_else(|| {
                    r.error(
                        n,
                        format!("{what}.stdout_logfile_maxbytes: `{text}` is not a size"),
                    )
                    .with_hint("use supervisord's spelling: 1048576, 500KB, 50MB or 1GB")
                })?)
            }
            None => None,
        };
        let log_backups = match v.get("stdout_logfile_backups") {
            Some(n) => {
                let count = value::unsigned(r, n, &format!("{what}.stdout_logfile_backups"))?;
                Some(u32::try_from(count).map_err(|_| {
                    r.error(n, format!("{what}.stdout_logfile_backups is too large"))
                })?)
            }
            None => None,
        };
        out.insert(
            name.to_owned(),
            Program {
                command,
                argv,
                autostart,
                autorestart,
                environment,
                directory,
                stop_signal,
                stop_grace_period,
                start_secs,
                start_retries,
                log_max_bytes,
                log_backups,
                depends_on: match v.get("depends_on") {
                    Some(list) => value::seq(r, list, &format!("{what}.depends_on"))?
                        .iter()
                        .map(|item| {
                            Ok(ProgramDependency {
                                name: value::string(r, item, &format!("{what}.depends_on"))?,
                                pos: item.pos,
                            })
                        })
                        .collect::<Result<_>>()?,
                    None => Vec::new(),
                },
                ports: match v.get("ports") {
                    Some(list) => program_ports(r, list, &format!("{what}.ports"))?,
                    None => Vec::new(),
                },
                pos: k.pos,
                unresolved,
            },
        );
    }
    Ok(out)
}

/// `ports: [8000, "127.0.0.1:8000"]`: a port, or a host address and port.
fn program_ports(r: &Reporter, node: &Node, what: &str) -> Result<Vec<ProgramPort>> {
    value::seq(r, node, what)?
        .iter()
        .map(|item| {
            let text = value::string(r, item, what)?;
            let (host_ip, port) = match text.rsplit_once(':') {
                Some((ip, port)) => (Some(ip.trim_matches(['[', ']']).to_owned()), port),
                None => (None, text.as_str()),
            };
            let port = port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                r.error(item, format!("{what}: `{text}` is not a port"))
                    .with_hint("use a port number or HOST_IP:PORT, e.g. 8000 or \"127.0.0.1:8000\"")
            })?;
            Ok(ProgramPort {
                host_ip,
                port,
                pos: item.pos,
            })
        })
        .collect()
}

/// Why [`expand_supervisor_vars`] could not expand a text.
#[derive(Debug, PartialEq)]
enum Expansion {
    /// `%(ENV_X)s` with `X` unset: a fact about this shell, not the config.
    Unset { var: String },
    /// Not supervisord's syntax, or an expansion devrig does not know.
    Invalid(String),
}

/// supervisord's `%(ENV_X)s` and `%(program_name)s` expansions, which
/// devservices configs rely on. A `%` not starting one is kept as written.
fn expand_supervisor_vars(text: &str, program: &str) -> std::result::Result<String, Expansion> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 1..];
        if let Some(after) = tail.strip_prefix('%') {
            out.push('%');
            rest = after;
        } else if let Some(expr) = tail.strip_prefix('(') {
            let close = expr
                .find(")s")
                .ok_or_else(|| Expansion::Invalid(format!("unterminated `%(` in `{text}`")))?;
            let name = &expr[..close];
            if let Some(var) = name.strip_prefix("ENV_") {
                let value = std::env::var(var).map_err(|_| Expansion::Unset {
                    var: var.to_owned(),
                })?;
                out.push_str(&value);
            } else if name == "program_name" || name == "process_num" {
                out.push_str(if name == "program_name" { program } else { "0" });
            } else {
                return Err(Expansion::Invalid(format!(
                    "`%({name})s` is not a supported expansion"
                )));
            }
            rest = &expr[close + 2..];
        } else {
            out.push('%');
            rest = tail;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// supervisord's environment syntax: `KEY="value",KEY2=value2`.
fn parse_supervisor_env(text: &str) -> std::result::Result<IndexMap<String, String>, String> {
    let mut out = IndexMap::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        let key = key.trim().to_owned();
        if key.is_empty() || key.contains(',') {
            return Err(format!("expected KEY=value in `{text}`"));
        }
        let mut value = String::new();
        match chars.peek().copied() {
            Some(quote @ ('"' | '\'')) => {
                chars.next();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == quote {
                        closed = true;
                        break;
                    }
                    value.push(c);
                }
                if !closed {
                    return Err(format!("unclosed quote in the value of `{key}`"));
                }
            }
            _ => {
                while let Some(c) = chars.peek().copied() {
                    if c == ',' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
                value = value.trim().to_owned();
            }
        }
        out.insert(key, value);
    }
}

/// supervisord's byte sizes: a number with an optional KB, MB or GB
/// (powers of 1024).
pub(crate) fn parse_byte_size(text: &str) -> Option<u64> {
    let upper = text.trim().to_ascii_uppercase();
    let (digits, unit) = match upper.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => upper.split_at(i),
        None => (upper.as_str(), ""),
    };
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(scale)
}

/// Compose project names: lowercase letters, digits, `-`, `_`, starting with
/// a letter or digit.
pub fn valid_project_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn join_or_none<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let list: Vec<&str> = names.map(String::as_str).collect();
    if list.is_empty() {
        "(none declared)".to_owned()
    } else {
        list.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supervisord_byte_sizes() {
        assert_eq!(parse_byte_size("1048576"), Some(1_048_576));
        assert_eq!(parse_byte_size("500KB"), Some(500 * 1024));
        assert_eq!(parse_byte_size("50mb"), Some(50 << 20));
        assert_eq!(parse_byte_size("1 GB"), Some(1 << 30));
        assert_eq!(parse_byte_size("MB"), None);
        assert_eq!(parse_byte_size("5TB"), None);
    }

    #[test]
    fn supervisor_env_syntax() {
        let env = parse_supervisor_env(r#"A="1",B='x,y', C=plain ,D="""#).unwrap();
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(pairs, [("A", "1"), ("B", "x,y"), ("C", "plain"), ("D", "")]);
        assert!(parse_supervisor_env(r#"A="open"#).is_err());
        assert!(parse_supervisor_env("=1").is_err());
    }

    #[test]
    fn supervisor_expansions() {
        let home = std::env::var("HOME").unwrap_or_default();
        assert_eq!(
            expand_supervisor_vars("%(ENV_HOME)s/x", "p").unwrap(),
            format!("{home}/x")
        );
        assert_eq!(
            expand_supervisor_vars("date +%%s", "p").unwrap(),
            "date +%s"
        );
        assert_eq!(expand_supervisor_vars("date +%s", "p").unwrap(), "date +%s");
        assert_eq!(
            expand_supervisor_vars("run %(program_name)s", "web").unwrap(),
            "run web"
        );
        assert!(matches!(
            expand_supervisor_vars("%(here)s", "p"),
            Err(Expansion::Invalid(_))
        ));
        assert_eq!(
            expand_supervisor_vars("%(ENV_DEVRIG_SURELY_UNSET_VAR)s", "p"),
            Err(Expansion::Unset {
                var: "DEVRIG_SURELY_UNSET_VAR".to_owned()
            })
        );
    }

    #[test]
    fn project_names() {
        assert!(valid_project_name("sentry"));
        assert!(valid_project_name("image-mirror_2"));
        assert!(!valid_project_name("Sentry"));
        assert!(!valid_project_name("-x"));
        assert!(!valid_project_name(""));
    }
}
