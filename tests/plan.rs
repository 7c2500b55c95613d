//! Resolving modes across repos: `config` and `list-dependencies` on
//! fixtures shaped like real configs, with remotes in real git repositories.

mod common;

use common::legacy::{World, run};
use serde_json::Value;

fn plan_json(world: &World, args: &[&str]) -> Value {
    let (code, stdout, stderr) = run(world, world.devrig().args(["config", "--json"]).args(args));
    assert_eq!(code, 0, "config failed:\n{stderr}");
    serde_json::from_str(&stdout).expect("config --json prints JSON")
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn large_fixture_resolves_every_mode() {
    let world = World::new();
    world.all_fixture_remotes();
    world.fixture_repo("large");
    let plan = plan_json(&world, &[]);
    assert_eq!(plan["service"], "sentry");
    let projects = keys(&plan["projects"]);
    assert_eq!(
        projects,
        [
            "sentry",
            "snuba",
            "postgres",
            "relay",
            "clickhouse",
            "kafka",
            "redis"
        ],
        "kafka and redis are shared by snuba and relay, and appear once"
    );
    assert_eq!(plan["projects"]["kafka"]["source"]["repo_name"], "kafka");
    assert_eq!(
        plan["projects"]["snuba"]["modes"],
        serde_json::json!(["containerized"])
    );

    // Every mode of the fixture resolves.
    let (_, listing, _) = run(&world, world.devrig().args(["list-services", "--json"]));
    let services: Value = serde_json::from_str(&listing).expect("json");
    let modes = services[0]["modes"].as_array().expect("modes").clone();
    assert!(
        modes.len() >= 15,
        "the fixture has ~15 modes, found {}",
        modes.len()
    );
    for mode in modes {
        let mode = mode.as_str().expect("mode name");
        let plan = plan_json(&world, &["--mode", mode]);
        assert_eq!(plan["mode"], mode);
    }
}

#[test]
fn programs_start_after_every_container() {
    let world = World::new();
    world.all_fixture_remotes();
    world.fixture_repo("large");
    let (_, listing, _) = run(&world, world.devrig().args(["list-services", "--json"]));
    let services: Value = serde_json::from_str(&listing).expect("json");
    let mode_with_programs = services[0]["modes"]
        .as_array()
        .expect("modes")
        .iter()
        .map(|m| m.as_str().expect("str").to_owned())
        .find(|m| {
            let plan = plan_json(&world, &["--mode", m]);
            plan["projects"]["sentry"]["programs"]
                .as_object()
                .is_some_and(|p| !p.is_empty())
        })
        .expect("some mode runs programs");
    let plan = plan_json(&world, &["--mode", &mode_with_programs]);
    let levels = plan["start_order"].as_array().expect("levels");
    let programs = keys(&plan["projects"]["sentry"]["programs"]);
    let last = levels.last().expect("a level").as_array().expect("units");
    for program in &programs {
        assert!(
            last.contains(&Value::from(format!("sentry/{program}"))),
            "{program} is in the last level"
        );
    }
    for level in &levels[..levels.len() - 1] {
        for unit in level.as_array().expect("units") {
            let unit = unit.as_str().expect("str");
            assert!(
                !programs.iter().any(|p| unit == format!("sentry/{p}")),
                "{unit} before containers"
            );
        }
    }
}

#[test]
fn list_dependencies_prints_the_tree() {
    let world = World::new();
    world.all_fixture_remotes();
    world.fixture_repo("remotes/snuba");
    let (code, stdout, stderr) = run(
        &world,
        world
            .devrig()
            .args(["list-dependencies", "--mode", "containerized"]),
    );
    assert_eq!(code, 0, "{stderr}");
    insta::assert_snapshot!(stdout, @"
    snuba (mode containerized)
    ├── clickhouse (remote: clickhouse, mode default) — Real time analytics database
    │   └── clickhouse (container) — Column-oriented analytics database
    ├── kafka (remote: kafka, mode default) — Shared instance of kafka used by sentry services
    │   └── kafka (container) — Distributed log used for streaming data between services
    ├── redis (remote: redis, mode default) — Shared instance of redis used by sentry services
    │   └── redis (container) — In-memory key-value store
    └── snuba (container) — Snuba API devserver
    ");
    let (_, json, _) = run(
        &world,
        world
            .devrig()
            .args(["list-dependencies", "--mode", "containerized", "--json"]),
    );
    let tree: Value = serde_json::from_str(&json).expect("json");
    assert_eq!(tree["dependencies"][0]["kind"], "remote");
    assert_eq!(
        tree["dependencies"][0]["dependencies"][0]["kind"],
        "container"
    );
}

#[test]
fn interpolation_uses_environment_then_dotenv() {
    let world = World::new();
    world.config(
        "x-sentry-service-config:\n  version: 0.1\n  service_name: demo\n  dependencies:\n    pg:\n      description: db\n  modes:\n    default: [pg]\nservices:\n  pg:\n    image: postgres:${PG_TAG:-14}\n    environment:\n      FROM_ENV: $FROM_ENV\n      FROM_DOTENV: ${FROM_DOTENV}\n      LITERAL: $$HOME\n      DEFAULTED: ${UNSET_VAR-fallback}\n      BARE:\n    ports:\n      - \"127.0.0.1:${PG_PORT:-5432}:5432\"\n    healthcheck:\n      test: pg_isready\n      retries: ${RETRIES:-5}\n",
    );
    world.file(
        "devservices/.env",
        "FROM_DOTENV=dot\nFROM_ENV=loses\nPG_PORT=6543\nBARE=from-dotenv\n",
    );
    let mut cmd = world.devrig();
    cmd.env("FROM_ENV", "wins");
    let (code, stdout, stderr) = run(&world, cmd.args(["config", "--json"]));
    assert_eq!(code, 0, "{stderr}");
    let plan: Value = serde_json::from_str(&stdout).expect("json");
    let pg = &plan["projects"]["demo"]["services"]["pg"];
    assert_eq!(pg["image"], "postgres:14");
    assert_eq!(
        pg["environment"],
        serde_json::json!({"FROM_ENV": "wins", "FROM_DOTENV": "dot", "LITERAL": "$HOME", "DEFAULTED": "fallback", "BARE": "from-dotenv"})
    );
    assert_eq!(pg["ports"][0]["published"], "6543");
    assert_eq!(pg["healthcheck"]["retries"], 5);
}

#[test]
fn anchors_and_merge_keys_in_services_and_programs() {
    let world = World::new();
    world.config(
        "x-base: &base\n  image: redis\n  restart: unless-stopped\n  labels: [orchestrator=devservices]\nx-env: &env\n  A: \"1\"\nx-sentry-service-config:\n  version: 0.1\n  service_name: demo\n  dependencies:\n    r1: {description: one}\n    r2: {description: two}\n    worker: {description: w}\n  modes:\n    default: [r1, r2, worker]\nservices:\n  r1:\n    <<: *base\n    environment: *env\n  r2:\n    <<: *base\n    image: redis:7\nx-programs:\n  worker:\n    command: python -m worker --queue \"high prio\"\n    environment: 'A=\"1\",B=\"two words\"'\n    stopsignal: INT\n    stopwaitsecs: 3\n",
    );
    let plan = plan_json(&world, &[]);
    let services = &plan["projects"]["demo"]["services"];
    assert_eq!(services["r1"]["image"], "redis");
    assert_eq!(services["r1"]["restart"], "unless-stopped");
    assert_eq!(services["r1"]["environment"]["A"], "1");
    assert_eq!(services["r2"]["image"], "redis:7");
    assert_eq!(services["r2"]["labels"]["orchestrator"], "devservices");
    let worker = &plan["projects"]["demo"]["programs"]["worker"];
    assert_eq!(
        worker["environment"],
        serde_json::json!({"A": "1", "B": "two words"})
    );
    assert_eq!(worker["stop_signal"], "INT");
    assert_eq!(worker["stop_grace_period"], "3s");
}

#[test]
fn compose_normalization_of_the_typed_fields() {
    let world = World::new();
    world.file("devservices/app.env", "FROM_FILE=1\nOVERRIDDEN=file\n");
    world.config(
        "x-sentry-service-config:\n  version: 0.1\n  service_name: demo\n  dependencies:\n    app: {description: app}\n  modes:\n    default: [app]\nservices:\n  app:\n    build:\n      context: ../app\n      args: [VERSION=1]\n    command: run --port \"8000\"\n    env_file: app.env\n    environment: [OVERRIDDEN=env, PLAIN]\n    ports:\n      - 8000-8001:8000-8001/udp\n      - target: 9000\n        published: \"9001\"\n        host_ip: 127.0.0.1\n    volumes:\n      - ./data:/data:ro\n      - cache:/cache\n      - type: tmpfs\n        target: /tmp\n    healthcheck:\n      test: [CMD, curl, -f, http://localhost:8000/]\n      interval: 90s\n      start_period: 1500ms\n    extra_hosts:\n      host.docker.internal: host-gateway\n    ulimits:\n      nofile: {soft: 1024, hard: 2048}\n      nproc: 512\n    shm_size: 1gb\n    stop_grace_period: 1m\n    init: true\n    depends_on:\n      db:\n        condition: service_healthy\n  db:\n    image: postgres\nvolumes:\n  cache:\n",
    );
    let plan = plan_json(&world, &[]);
    let app = &plan["projects"]["demo"]["services"]["app"];
    let repo = "[TMP]/repo";
    assert_eq!(
        app["build"],
        serde_json::json!({"context": format!("{repo}/app"), "dockerfile": "Dockerfile", "args": {"VERSION": "1"}})
    );
    assert_eq!(app["command"], serde_json::json!(["run", "--port", "8000"]));
    assert_eq!(
        app["environment"],
        serde_json::json!({"FROM_FILE": "1", "OVERRIDDEN": "env", "PLAIN": null})
    );
    assert_eq!(
        app["ports"],
        serde_json::json!([
            {"mode": "ingress", "target": 8000, "published": "8000", "protocol": "udp"},
            {"mode": "ingress", "target": 8001, "published": "8001", "protocol": "udp"},
            {"mode": "ingress", "host_ip": "127.0.0.1", "target": 9000, "published": "9001", "protocol": "tcp"}
        ])
    );
    assert_eq!(
        app["volumes"],
        serde_json::json!([
            {"type": "bind", "source": format!("{repo}/devservices/data"), "target": "/data", "read_only": true, "bind": {"create_host_path": true}},
            {"type": "volume", "source": "cache", "target": "/cache", "volume": {}},
            {"type": "tmpfs", "target": "/tmp"}
        ])
    );
    assert_eq!(
        app["healthcheck"],
        serde_json::json!({"test": ["CMD", "curl", "-f", "http://localhost:8000/"], "interval": "1m30s", "start_period": "1.5s"})
    );
    assert_eq!(
        app["extra_hosts"],
        serde_json::json!(["host.docker.internal=host-gateway"])
    );
    assert_eq!(
        app["ulimits"],
        serde_json::json!({"nofile": {"soft": 1024, "hard": 2048}, "nproc": 512})
    );
    assert_eq!(app["shm_size"], "1073741824");
    assert_eq!(app["stop_grace_period"], "1m0s");
    assert_eq!(
        app["depends_on"],
        serde_json::json!({"db": {"condition": "service_healthy", "required": true}})
    );
    assert_eq!(
        plan["projects"]["demo"]["volumes"],
        serde_json::json!({"cache": {"name": "demo_cache"}})
    );
    assert_eq!(
        plan["projects"]["demo"]["networks"]["default"]["name"],
        "demo_default"
    );
    assert_eq!(
        plan["start_order"],
        serde_json::json!([["demo/db"], ["demo/app"]])
    );
}

#[test]
fn yaml_output_is_the_same_plan() {
    let world = World::new();
    world.config(
        &devrig::templates::render("demo", &["redis".to_owned()])
            .expect("template")
            .text,
    );
    let (code, stdout, _) = run(&world, world.devrig().arg("config"));
    assert_eq!(code, 0);
    insta::assert_snapshot!("config_yaml", stdout);
}

#[test]
fn json_output_snapshot() {
    let world = World::new();
    world.config(
        &devrig::templates::render("demo", &["snuba".to_owned()])
            .expect("template")
            .text,
    );
    let (code, stdout, _) = run(&world, world.devrig().args(["config", "--json"]));
    assert_eq!(code, 0);
    insta::assert_snapshot!("config_json", stdout);
    let (code, tree, _) = run(&world, world.devrig().args(["list-dependencies", "--json"]));
    assert_eq!(code, 0);
    insta::assert_snapshot!("list_dependencies_json", tree);
}
