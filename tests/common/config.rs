//! Configs for tests whose scenario is the services and programs, not the
//! `x-sentry-service-config` block: the test writes those as YAML, and the
//! block around them declares each as a dependency in the default mode.

/// The devservices config of `project` whose default mode runs every
/// service and program that `yaml` defines: `yaml` is the rest of the file
/// (`services:`, `x-programs:`, `volumes:`…), its top-level keys at the
/// left margin and their entries two spaces in. Services come first in the
/// mode, then programs, each in the order written.
pub fn devservices_config(project: &str, yaml: &str) -> String {
    let mut services = Vec::new();
    let mut programs = Vec::new();
    let mut section = "";
    for line in yaml.lines() {
        if !line.starts_with(' ') {
            section = line.trim_end_matches(':');
        } else if let Some(name) = line
            .strip_prefix("  ")
            .filter(|l| !l.starts_with(' '))
            .and_then(|l| l.strip_suffix(':'))
        {
            match section {
                "services" => services.push(name),
                "x-programs" => programs.push(name),
                _ => {}
            }
        }
    }
    let all: Vec<&str> = services.into_iter().chain(programs).collect();
    let mut text = format!(
        "x-sentry-service-config:\n  version: 0.1\n  service_name: {project}\n  dependencies:\n"
    );
    for name in &all {
        text.push_str(&format!("    {name}:\n      description: {name}\n"));
    }
    text.push_str(&format!("  modes:\n    default: [{}]\n", all.join(", ")));
    text.push_str(yaml);
    text
}

/// A dev server that prints `served`, beside a `db` container that is
/// never started: what `serve` checks before it starts, with an engine
/// (tests/engine.rs) and without one (tests/serve.rs).
pub fn devserver_beside_a_db(project: &str) -> String {
    devservices_config(
        project,
        indoc::indoc! {"
            x-programs:
              devserver:
                command: echo served
            services:
              db:
                image: postgres:14-alpine
        "},
    )
}

/// The config of `project` whose default mode is one dependency, `store`:
/// the remote `repo_name` (a bare repository of the world's, `{remotes}`
/// until `World::config` expands it) in its mode `mode`.
pub fn uses_one_remote(project: &str, repo_name: &str, mode: &str) -> String {
    indoc::formatdoc! {r#"
        x-sentry-service-config:
          version: 0.1
          service_name: {project}
          dependencies:
            store:
              description: the store
              remote: {{repo_name: {repo_name}, branch: main, repo_link: "file://{{remotes}}/{repo_name}.git", mode: {mode}}}
          modes:
            default: [store]
    "#}
}

/// A repo `project` with no containers, whose default mode runs every
/// program of `x_programs` (YAML: the body of `x-programs:`, names at the
/// left margin).
pub fn programs_only(project: &str, x_programs: &str) -> String {
    let mut yaml = String::from("x-programs:\n");
    for line in x_programs.lines() {
        yaml.push_str(&format!("  {line}\n"));
    }
    devservices_config(project, &yaml)
}
