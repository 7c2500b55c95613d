//! Starter configs for `devrig init`, assembled from the fragments in
//! `templates/` (compiled in, so an installed binary needs no data files).
//!
//! A fragment is the YAML of one compose service, indented to sit under
//! `services:`, after header comments: `# description: …`, `# volumes: a, b`
//! (named volumes it uses) and `# requires: x, y` (services it cannot run
//! without, added automatically). `{{name}}` is replaced by the service name.

/// Every template, in the order a starter config lists them.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("postgres", include_str!("../templates/postgres.yml")),
    ("redis", include_str!("../templates/redis.yml")),
    ("kafka", include_str!("../templates/kafka.yml")),
    ("clickhouse", include_str!("../templates/clickhouse.yml")),
    ("snuba", include_str!("../templates/snuba.yml")),
];

/// Why `init` cannot render the config asked for.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    #[error("there is no template for `{0}`")]
    /// A service no template exists for.
    Unknown(String),
    #[error("`{0}` is not a valid service name")]
    /// A service name compose would refuse as a project name.
    InvalidName(String),
}

impl TemplateError {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            TemplateError::Unknown(_) => format!(
                "templates: {}",
                TEMPLATES
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            TemplateError::InvalidName(_) => {
                "pass --name with lowercase letters, digits, `-` and `_`".to_owned()
            }
        }
    }
}

struct Fragment<'a> {
    name: &'a str,
    description: &'a str,
    volumes: Vec<&'a str>,
    requires: Vec<&'a str>,
    body: String,
}

fn fragment(name: &str) -> Result<Fragment<'static>, TemplateError> {
    let (key, text) = TEMPLATES
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or_else(|| TemplateError::Unknown(name.to_owned()))?;
    let header = |key: &str| -> Option<&'static str> {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("# {key}:")))
            .map(str::trim)
    };
    let list = |key: &str| -> Vec<&'static str> {
        header(key)
            .into_iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect()
    };
    Ok(Fragment {
        name: key,
        description: header("description").unwrap_or(""),
        volumes: list("volumes"),
        requires: list("requires"),
        body: text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n"),
    })
}

/// Programs run on the host. `devserver` is what `devservices serve` runs
/// (a placeholder to replace); it is in no mode, as in Sentry's config.
const PROGRAMS_HEADER: &str = "
# Programs run on the host, supervised by devrig: started by `up` after the
# containers are ready, restarted when they crash, stopped by `down`.
# `devservices serve` runs `devserver` in the foreground.
x-programs:
  devserver:
    # Replace with your dev server.
    command: python3 -m http.server 8000 --bind 127.0.0.1
";

/// A stand-in worker for the demo stack: asks redis for PONG every five
/// seconds (its output: `devservices logs worker`).
const WORKER: &str = "  worker:
    command: >-
      python3 -u -c \"while 1: s = __import__('socket').create_connection(('127.0.0.1', 6379)); s.sendall(b'PING\\r\\n'); print('redis says', s.recv(64).decode().strip()); s.close(); __import__('time').sleep(5)\"
    stopsignal: INT
";

/// What `init` wrote beyond what was asked, for the user to see.
pub struct Rendered {
    /// The config, as written.
    pub text: String,
    /// Services added because a chosen one requires them.
    pub added: Vec<String>,
}

/// Renders a config for `service_name` with the chosen services (empty:
/// all templates). Modes: `default` with everything, and `minimal` with
/// postgres and redis when both are present.
pub fn render(service_name: &str, chosen: &[String]) -> Result<Rendered, TemplateError> {
    if !crate::config::devservices::valid_project_name(service_name) {
        return Err(TemplateError::InvalidName(service_name.to_owned()));
    }
    let mut wanted: Vec<String> = if chosen.is_empty() {
        TEMPLATES.iter().map(|(n, _)| (*n).to_owned()).collect()
    } else {
        chosen.to_vec()
    };
    let mut added = Vec::new();
    let mut i = 0;
    while i < wanted.len() {
        for req in fragment(&wanted[i])?.requires {
            if !wanted.iter().any(|w| w == req) {
                wanted.push(req.to_owned());
                added.push(req.to_owned());
            }
        }
        i += 1;
    }
    // Template order, so the file reads the same whatever order was asked.
    let fragments: Vec<Fragment> = TEMPLATES
        .iter()
        .filter(|(n, _)| wanted.iter().any(|w| w == n))
        .map(|(n, _)| fragment(n))
        .collect::<Result<_, _>>()?;

    let mut text = String::new();
    text.push_str("# devservices config, written by `devrig init`.\n");
    text.push_str(
        "# Start everything: `devservices up`; only the basics: `devservices up --mode minimal`.\n",
    );
    text.push_str("x-sentry-service-config:\n  version: 0.1\n");
    text.push_str(&format!(
        "  service_name: {service_name}\n  dependencies:\n"
    ));
    for f in &fragments {
        text.push_str(&format!(
            "    {}:\n      description: {}\n",
            f.name, f.description
        ));
    }
    let names: Vec<&str> = fragments.iter().map(|f| f.name).collect();
    let worker = names.contains(&"redis");
    if worker {
        text.push_str("    worker:\n      description: Example worker on the host (pings redis)\n");
    }
    let mut default_mode = names.clone();
    if worker {
        default_mode.push("worker");
    }
    text.push_str(&format!(
        "  modes:\n    default: [{}]\n",
        default_mode.join(", ")
    ));
    if names.contains(&"postgres") && names.contains(&"redis") && names.len() > 2 {
        text.push_str("    minimal: [postgres, redis]\n");
    }
    text.push_str(PROGRAMS_HEADER);
    if worker {
        text.push_str(WORKER);
    }
    text.push_str("\nservices:\n");
    for (i, f) in fragments.iter().enumerate() {
        if i > 0 {
            text.push('\n');
        }
        text.push_str(&f.body.replace("{{name}}", service_name));
        text.push('\n');
    }
    let volumes: Vec<&str> = fragments
        .iter()
        .flat_map(|f| f.volumes.iter().copied())
        .collect();
    if !volumes.is_empty() {
        text.push_str("\nvolumes:\n");
        for v in volumes {
            text.push_str(&format!("  {v}:\n"));
        }
    }
    text.push_str("\nnetworks:\n  devservices:\n    name: devservices\n    external: true\n");
    Ok(Rendered { text, added })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, Variables};

    fn load(text: &str) -> config::Config {
        let file = std::path::Path::new("/nonexistent/devservices/config.yml");
        config::load_str(file, text, &Variables::from_pairs([])).unwrap()
    }

    #[test]
    fn every_template_alone_makes_a_valid_config() {
        for (name, _) in TEMPLATES {
            let rendered = render("demo", &[(*name).to_owned()]).unwrap();
            let config = load(&rendered.text);
            assert!(config.services.contains_key(*name), "{name}");
            assert!(config.warnings.is_empty(), "{name}: {:?}", config.warnings);
            let svc = &config.services[*name];
            assert!(
                svc.healthcheck.as_ref().and_then(|h| h.probe()).is_some(),
                "{name} needs a healthcheck"
            );
            assert!(
                svc.ports
                    .iter()
                    .all(|p| p.host_ip.as_deref() == Some("127.0.0.1")),
                "{name}"
            );
        }
    }

    #[test]
    fn snuba_brings_what_it_requires() {
        let rendered = render("demo", &["snuba".to_owned()]).unwrap();
        assert_eq!(rendered.added, ["clickhouse", "kafka"]);
        let config = load(&rendered.text);
        assert_eq!(
            config.meta.modes["default"].dependencies,
            ["kafka", "clickhouse", "snuba"]
        );
    }

    #[test]
    fn all_templates_with_minimal_mode() {
        let config = load(&render("demo", &[]).unwrap().text);
        assert_eq!(
            config.meta.modes["minimal"].dependencies,
            ["postgres", "redis"]
        );
        // Every template, and the example worker.
        assert_eq!(
            config.meta.modes["default"].dependencies.len(),
            TEMPLATES.len() + 1
        );
    }

    #[test]
    fn redis_brings_an_example_worker_and_every_config_a_devserver() {
        let config = load(&render("demo", &["redis".to_owned()]).unwrap().text);
        assert_eq!(
            config.meta.modes["default"].dependencies,
            ["redis", "worker"]
        );
        let worker = &config.programs["worker"];
        assert_eq!(worker.argv[0], "python3");
        assert!(
            worker.argv[3].contains("b'PING\\r\\n'"),
            "{:?}",
            worker.argv
        );
        assert!(config.programs.contains_key("devserver"));
        let config = load(&render("demo", &["postgres".to_owned()]).unwrap().text);
        assert!(!config.programs.contains_key("worker"));
        assert_eq!(config.meta.modes["default"].dependencies, ["postgres"]);
    }

    #[test]
    fn unknown_template_and_bad_name() {
        assert_eq!(
            render("demo", &["mysql".to_owned()]).err(),
            Some(TemplateError::Unknown("mysql".to_owned()))
        );
        assert!(matches!(
            render("Bad Name", &[]),
            Err(TemplateError::InvalidName(_))
        ));
    }
}
