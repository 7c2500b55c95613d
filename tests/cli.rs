//! The binary itself: names it answers to, help, version, init.

mod common;

use common::{Test, World, indoc};

#[test]
fn version_and_help_list_both_families() {
    Test::new()
        .arg("--version")
        .stdout(&format!("devrig {}\n", env!("CARGO_PKG_VERSION")))
        .run();
    // config, list-services, list-dependencies, init, the service commands
    // and the exit codes.
    Test::new().arg("--help").stdout_snapshot().run();
}

#[test]
fn usage_error_exits_2() {
    Test::new()
        .arg("frobnicate")
        .code(2)
        .stderr_contains("unrecognized subcommand 'frobnicate'")
        .run();
}

/// The demo config `devrig init --with redis --name demo` would write.
fn redis_demo() -> String {
    devrig::templates::render("demo", &["redis".to_owned()])
        .expect("template")
        .text
}

#[test]
fn invoked_as_devservices_it_runs_service_commands() {
    let world = World::new();
    world.config(&redis_demo());
    world
        .devrig()
        .named("devservices")
        .arg("list-dependencies")
        .stdout_snapshot()
        .run();
    world
        .devrig()
        .named("devservices")
        .arg("--help")
        .stdout_snapshot()
        .run();
}

#[test]
fn unknown_argv0_falls_back_to_devrig() {
    Test::new()
        .named("my-tool")
        .arg("--help")
        .stdout_contains("Usage: devrig")
        .run();
}

#[test]
fn init_writes_a_config_that_resolves_and_refuses_to_overwrite() {
    let world = World::new();
    std::fs::remove_dir_all(world.repo().join("devservices")).expect("clean");
    world
        .devrig()
        .args(["init", "--with", "snuba,redis", "--name", "demo"])
        .stderr_snapshot()
        .run();

    // A fresh config has no warnings.
    let plan = world
        .devrig()
        .args(["config", "--json"])
        .stderr("")
        .run()
        .json();
    let services: Vec<&str> = plan["projects"]["demo"]["services"]
        .as_object()
        .expect("services")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(services, ["redis", "kafka", "clickhouse", "snuba"]);
    assert_eq!(
        plan["start_order"],
        serde_json::json!([
            ["demo/redis", "demo/kafka", "demo/clickhouse"],
            ["demo/snuba"],
            ["demo/worker"]
        ])
    );

    world
        .devrig()
        .arg("init")
        .code(2)
        .stderr_contains("already exists")
        .stderr_contains("--force")
        .run();
    world
        .devrig()
        .args(["init", "--force", "--with", "postgres"])
        .run();
    let text = std::fs::read_to_string(world.repo().join("devservices/config.yml")).expect("read");
    assert!(
        text.contains("service_name: repo"),
        "the name defaults to the repo dir:\n{text}"
    );
    assert!(!text.contains("snuba"), "--force replaced the file");
}

#[test]
fn init_rejects_an_unknown_template() {
    Test::new()
        .args(["init", "--with", "mysql"])
        .code(2)
        .stderr(indoc! {"
            error: there is no template for `mysql`
            hint: templates: postgres, redis, kafka, clickhouse, snuba
        "})
        .run();
}

#[test]
fn the_projects_own_demo_stack_resolves() {
    let world = World::new();
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/devservices/config.yml");
    let plan = world
        .devrig()
        .args(["-c", demo, "config", "--json"])
        .stderr("")
        .run()
        .json();
    assert_eq!(plan["start_order"][1], serde_json::json!(["devrig/snuba"]));

    let plan = world
        .devrig()
        .args(["-c", demo, "config", "--json", "--mode", "minimal"])
        .run()
        .json();
    assert_eq!(
        plan["start_order"],
        serde_json::json!([["devrig/postgres", "devrig/redis"]])
    );
}

#[test]
fn warnings_name_the_unsupported_key_and_place() {
    let world = World::new();
    world.config(indoc! {"
        x-sentry-service-config:
          version: 0.1
          service_name: demo
          dependencies:
            a:
              description: a
          modes:
            default: [a]
        services:
          a:
            image: x
            mem_limit: 1g
            x-note: kept quiet
    "});
    world
        .devrig()
        .arg("config")
        .stderr(indoc! {"
            warning: [TMP]/repo/devservices/config.yml:12:5: service `a`: `mem_limit` is not supported by devrig yet and is ignored
        "})
        .run();
    // --quiet hides warnings.
    world.devrig().args(["config", "-q"]).stderr("").run();
}

#[test]
fn devenv_doctor_reports_each_check_and_fails_on_a_fail() {
    let world = World::new();
    world.file(
        "package.json",
        r#"{"name": "app", "engines": {"node": ">=22"}}"#,
    );
    let out = world
        .devrig()
        .named("devenv")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .args(["doctor", "--json"])
        .code(1)
        .stderr_contains("checks failed")
        .run();
    let checks = out.json();
    let by_id = |id: &str| {
        checks
            .as_array()
            .expect("list")
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no {id} in {}", out.stdout))
            .clone()
    };
    let node = by_id("node.version");
    assert_eq!(
        node["outcome"], "fail",
        "this machine's Node 20 does not satisfy >=22"
    );
    assert!(node["fix"].as_str().is_some_and(|f| !f.is_empty()));
    let engine = by_id("docker.engine");
    assert_eq!(engine["outcome"], "fail");
    assert!(
        engine["finding"]
            .as_str()
            .expect("finding")
            .contains("unix:///nonexistent/docker.sock")
    );
    assert!(
        engine["fix"]
            .as_str()
            .expect("fix")
            .contains("point DOCKER_HOST/DOCKER_CONTEXT at a running engine"),
        "{engine}"
    );

    // devenv knows only the toolchain commands.
    world
        .devrig()
        .named("devenv")
        .arg("up")
        .code(2)
        .stderr_contains("unrecognized subcommand 'up'")
        .run();
}

/// The result on stdout either got out whole or the exit code says it did
/// not: a full disk (`/dev/full` fails every write with ENOSPC) is exit 1
/// with the reason, for JSON and for YAML alike.
#[test]
fn output_to_a_full_disk_is_an_error() {
    let world = World::new();
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/devservices/config.yml");
    for json in [true, false] {
        let mut command = world.command();
        command.args(["-c", demo, "config"]);
        if json {
            command.arg("--json");
        }
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let out = command.stdout(full).output().expect("run devrig");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "json {json}: {stderr}");
        assert!(
            stderr.starts_with(
                "error: cannot write the output: No space left on device (os error 28)\n\
                 hint: what was written is incomplete"
            ),
            "json {json}: {stderr}"
        );
    }
}

/// A reader that went away (`| head`) is not a failure: exit 0 and nothing
/// on stderr, as ripgrep does.
#[test]
fn a_closed_pipe_ends_quietly() {
    let world = World::new();
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/devservices/config.yml");
    for json in [true, false] {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let mut command = world.command();
        command.args(["-c", demo, "config"]);
        if json {
            command.arg("--json");
        }
        let out = command.stdout(writer).output().expect("run devrig");
        assert_eq!(
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).as_ref()
            ),
            (Some(0), ""),
            "json {json}"
        );
    }
}
