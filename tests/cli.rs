//! The binary itself: names it answers to, help, version, init.

mod common;

use common::legacy::{World, run};

#[test]
fn version_and_help_list_both_families() {
    let world = World::new();
    let (code, stdout, _) = run(&world, world.devrig().arg("--version"));
    assert_eq!(code, 0);
    assert_eq!(
        stdout.trim(),
        format!("devrig {}", env!("CARGO_PKG_VERSION"))
    );

    let (code, stdout, _) = run(&world, world.devrig().arg("--help"));
    assert_eq!(code, 0);
    for needle in [
        "config",
        "list-services",
        "list-dependencies",
        "init",
        "Service commands",
        "Exit codes",
    ] {
        assert!(stdout.contains(needle), "help lacks {needle}:\n{stdout}");
    }
}

#[test]
fn usage_error_exits_2() {
    let world = World::new();
    let (code, _, stderr) = run(&world, world.devrig().arg("frobnicate"));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("unrecognized subcommand 'frobnicate'"),
        "{stderr}"
    );
}

/// Links the binary under `name` in the world and returns the link.
fn linked_as(world: &World, name: &str) -> std::path::PathBuf {
    let link = world.root().join("bin").join(name);
    std::fs::create_dir_all(link.parent().expect("parent")).expect("mkdir");
    std::os::unix::fs::symlink(assert_cmd::cargo::cargo_bin("devrig"), &link).expect("symlink");
    link
}

#[test]
fn invoked_as_devservices_it_runs_service_commands() {
    let world = World::new();
    world.config(
        &devrig::templates::render("demo", &["redis".to_owned()])
            .expect("template")
            .text,
    );
    let devservices = linked_as(&world, "devservices");
    let (code, stdout, _) = run(
        &world,
        world.named_devrig(&devservices).arg("list-dependencies"),
    );
    assert_eq!(code, 0);
    assert!(stdout.starts_with("demo (mode default)"), "{stdout}");

    let (_, help, _) = run(&world, world.named_devrig(&devservices).arg("--help"));
    assert!(help.starts_with("Sentry's devservices"), "{help}");
    assert!(help.contains("Usage: devservices"), "{help}");
}

#[test]
fn unknown_argv0_falls_back_to_devrig() {
    let world = World::new();
    let odd = linked_as(&world, "my-tool");
    let (code, stdout, _) = run(&world, world.named_devrig(&odd).arg("--help"));
    assert_eq!(code, 0);
    assert!(stdout.contains("Usage: devrig"), "{stdout}");
}

#[test]
fn init_writes_a_config_that_resolves_and_refuses_to_overwrite() {
    let world = World::new();
    std::fs::remove_dir_all(world.repo().join("devservices")).expect("clean");
    let (code, _, stderr) = run(
        &world,
        world
            .devrig()
            .args(["init", "--with", "snuba,redis", "--name", "demo"]),
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("Added clickhouse"), "{stderr}");
    assert!(
        stderr.contains("Created [TMP]/repo/devservices/config.yml"),
        "{stderr}"
    );

    let (code, stdout, stderr) = run(&world, world.devrig().args(["config", "--json"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.is_empty(),
        "a fresh config has no warnings: {stderr}"
    );
    let plan: serde_json::Value = serde_json::from_str(&stdout).expect("json");
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

    let (code, _, stderr) = run(&world, world.devrig().args(["init"]));
    assert_eq!(code, 2);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");
    let (code, _, _) = run(
        &world,
        world
            .devrig()
            .args(["init", "--force", "--with", "postgres"]),
    );
    assert_eq!(code, 0);
    let text = std::fs::read_to_string(world.repo().join("devservices/config.yml")).expect("read");
    assert!(
        text.contains("service_name: repo"),
        "the name defaults to the repo dir:\n{text}"
    );
    assert!(!text.contains("snuba"), "--force replaced the file");
}

#[test]
fn init_rejects_an_unknown_template() {
    let world = World::new();
    let (code, _, stderr) = run(&world, world.devrig().args(["init", "--with", "mysql"]));
    assert_eq!(code, 2);
    insta::assert_snapshot!(stderr, @r"
    error: there is no template for `mysql`
    hint: templates: postgres, redis, kafka, clickhouse, snuba
    ");
}

#[test]
fn the_projects_own_demo_stack_resolves() {
    let world = World::new();
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/devservices/config.yml");
    let (code, stdout, stderr) = run(
        &world,
        world.devrig().args(["-c", demo, "config", "--json"]),
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    let plan: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(plan["start_order"][1], serde_json::json!(["devrig/snuba"]));

    let (code, stdout, _) = run(
        &world,
        world
            .devrig()
            .args(["-c", demo, "config", "--json", "--mode", "minimal"]),
    );
    assert_eq!(code, 0);
    let plan: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(
        plan["start_order"],
        serde_json::json!([["devrig/postgres", "devrig/redis"]])
    );
}

#[test]
fn warnings_name_the_unsupported_key_and_place() {
    let world = World::new();
    world.config(
        "x-sentry-service-config:\n  version: 0.1\n  service_name: demo\n  dependencies:\n    a:\n      description: a\n  modes:\n    default: [a]\nservices:\n  a:\n    image: x\n    mem_limit: 1g\n    x-note: kept quiet\n",
    );
    let (code, _, stderr) = run(&world, world.devrig().arg("config"));
    assert_eq!(code, 0);
    insta::assert_snapshot!(stderr, @"warning: [TMP]/repo/devservices/config.yml:12:5: service `a`: `mem_limit` is not supported by devrig yet and is ignored");
    let (_, _, quiet) = run(&world, world.devrig().args(["config", "-q"]));
    assert!(quiet.is_empty(), "--quiet hides warnings: {quiet}");
}

#[test]
fn devenv_doctor_reports_each_check_and_fails_on_a_fail() {
    let world = World::new();
    world.file(
        "package.json",
        r#"{"name": "app", "engines": {"node": ">=22"}}"#,
    );
    let devenv = linked_as(&world, "devenv");
    let mut cmd = world.named_devrig(&devenv);
    cmd.env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    let (code, stdout, stderr) = run(&world, cmd.args(["doctor", "--json"]));
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let checks: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let by_id = |id: &str| {
        checks
            .as_array()
            .expect("list")
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no {id} in {stdout}"))
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
    assert!(stderr.contains("checks failed"), "{stderr}");

    // devenv knows only the toolchain commands.
    let (code, _, stderr) = run(&world, world.named_devrig(&devenv).arg("up"));
    assert_eq!(code, 2);
    assert!(stderr.contains("unrecognized subcommand 'up'"), "{stderr}");
}
