//! Checks that span sections of one file: dependencies that must name a
//! service or program, `depends_on` targets and cycles, declared volumes and
//! networks. Each error points at the line that has to change.

use super::Config;
use super::error::{ConfigError, Reporter};

pub fn config(r: &Reporter, config: &Config) -> Result<(), ConfigError> {
    for (name, dep) in &config.meta.dependencies {
        if dep.remote.is_none()
            && !config.services.contains_key(name)
            && !config.programs.contains_key(name)
        {
            return Err(r
                .error_at(dep.pos, format!("dependency `{name}` is not remote, and there is no service or program called `{name}`"))
                .with_hint(format!("add `{name}` under `services:` or `x-programs:`, or give the dependency a `remote:` block")));
        }
    }
    for (name, program) in &config.programs {
        for dep in &program.depends_on {
            if !config.meta.dependencies.contains_key(&dep.name)
                || config.programs.contains_key(&dep.name)
            {
                let containers: Vec<&str> = config
                    .meta
                    .dependencies
                    .keys()
                    .filter(|d| !config.programs.contains_key(*d))
                    .map(String::as_str)
                    .collect();
                return Err(r
                    .error_at(dep.pos, format!("program `{name}` depends on `{}`, which is not a container dependency of this service", dep.name))
                    .with_hint(format!("a program can wait for these dependencies: {}", containers.join(", "))));
            }
        }
    }
    for (name, svc) in &config.services {
        for (target, dep) in &svc.depends_on {
            if !config.services.contains_key(target) {
                return Err(r
                    .error_at(dep.pos, format!("service `{name}` depends on `{target}`, which is not a service in this file"))
                    .with_hint(format!("services here: {}", config.services.keys().cloned().collect::<Vec<_>>().join(", "))));
            }
        }
        for vol in &svc.volumes {
            if vol.kind == "volume"
                && let Some(source) = &vol.source
                && !config.volumes.contains_key(source)
            {
                return Err(r
                    .error_at(vol.pos, format!("service `{name}` uses volume `{source}`, which is not declared under top-level `volumes:`"))
                    .with_hint(format!("add `volumes:\\n  {source}:` at the top level of the file")));
            }
        }
        for net in svc.networks.keys() {
            if net != "default" && !config.networks.contains_key(net) {
                return Err(r
                    .error_at(svc.pos, format!("service `{name}` joins network `{net}`, which is not declared under top-level `networks:`"))
                    .with_hint(format!("add `networks:\\n  {net}:` (with `external: true` for a shared network such as devservices)")));
            }
        }
    }
    if let Some(cycle) = depends_on_cycle(config) {
        let first = &config.services[&cycle[0]];
        let pos = first.depends_on[&cycle[1]].pos;
        return Err(r
            .error_at(
                pos,
                format!("depends_on forms a cycle: {}", cycle.join(" → ")),
            )
            .with_hint("remove one of these depends_on entries"));
    }
    Ok(())
}

/// A `depends_on` cycle as a path that starts and ends at the same service.
fn depends_on_cycle(config: &Config) -> Option<Vec<String>> {
    let edges =
        |name: &str| -> Vec<String> { config.services[name].depends_on.keys().cloned().collect() };
    crate::graph::find_cycle(config.services.keys().cloned(), |n: &String| edges(n))
}
