//! Resolving modes across repos: `config` and `list-dependencies` on
//! fixtures shaped like real configs, with remotes in real git repositories.

mod common;

use common::{Test, World, indoc};
use serde_json::Value;

/// `devrig config --json ARGS`, which must succeed.
fn plan_json(world: &World, args: &[&str]) -> Value {
    world
        .devrig()
        .args(["config", "--json"])
        .args(args)
        .run()
        .json()
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
    let modes = world.modes();
    assert!(
        modes.len() >= 15,
        "the fixture has ~15 modes, found {}",
        modes.len()
    );
    for mode in modes {
        let plan = plan_json(&world, &["--mode", &mode]);
        assert_eq!(plan["mode"], mode.as_str());
    }
}

#[test]
fn programs_start_after_every_container() {
    let world = World::new();
    world.all_fixture_remotes();
    world.fixture_repo("large");
    let mode_with_programs = world
        .modes()
        .into_iter()
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
    world
        .devrig()
        .args(["list-dependencies", "--mode", "containerized"])
        .stdout(indoc! {"
            snuba (mode containerized)
            ├── clickhouse (remote: clickhouse, mode default) — Real time analytics database
            │   └── clickhouse (container) — Column-oriented analytics database
            ├── kafka (remote: kafka, mode default) — Shared instance of kafka used by sentry services
            │   └── kafka (container) — Distributed log used for streaming data between services
            ├── redis (remote: redis, mode default) — Shared instance of redis used by sentry services
            │   └── redis (container) — In-memory key-value store
            └── snuba (container) — Snuba API devserver
        "})
        .run();
    let tree = world
        .devrig()
        .args(["list-dependencies", "--mode", "containerized", "--json"])
        .run()
        .json();
    assert_eq!(tree["dependencies"][0]["kind"], "remote");
    assert_eq!(
        tree["dependencies"][0]["dependencies"][0]["kind"],
        "container"
    );
}

#[test]
fn interpolation_uses_environment_then_dotenv() {
    let plan = Test::new()
        .config(indoc! {r#"
            x-sentry-service-config:
              version: 0.1
              service_name: demo
              dependencies:
                pg:
                  description: db
              modes:
                default: [pg]
            services:
              pg:
                image: postgres:${PG_TAG:-14}
                environment:
                  FROM_ENV: $FROM_ENV
                  FROM_DOTENV: ${FROM_DOTENV}
                  LITERAL: $$HOME
                  DEFAULTED: ${UNSET_VAR-fallback}
                  BARE:
                ports:
                  - "127.0.0.1:${PG_PORT:-5432}:5432"
                healthcheck:
                  test: pg_isready
                  retries: ${RETRIES:-5}
        "#})
        .file(
            "devservices/.env",
            indoc! {"
                FROM_DOTENV=dot
                FROM_ENV=loses
                PG_PORT=6543
                BARE=from-dotenv
            "},
        )
        .env("FROM_ENV", "wins")
        .args(["config", "--json"])
        .run()
        .json();
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
    world.config(indoc! {r#"
        x-base: &base
          image: redis
          restart: unless-stopped
          labels: [orchestrator=devservices]
        x-env: &env
          A: "1"
        x-sentry-service-config:
          version: 0.1
          service_name: demo
          dependencies:
            r1: {description: one}
            r2: {description: two}
            worker: {description: w}
          modes:
            default: [r1, r2, worker]
        services:
          r1:
            <<: *base
            environment: *env
          r2:
            <<: *base
            image: redis:7
        x-programs:
          worker:
            command: python -m worker --queue "high prio"
            environment: 'A="1",B="two words"'
            stopsignal: INT
            stopwaitsecs: 3
    "#});
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
    world.config(indoc! {r#"
        x-sentry-service-config:
          version: 0.1
          service_name: demo
          dependencies:
            app: {description: app}
          modes:
            default: [app]
        services:
          app:
            build:
              context: ../app
              args: [VERSION=1]
            command: run --port "8000"
            env_file: app.env
            environment: [OVERRIDDEN=env, PLAIN]
            ports:
              - 8000-8001:8000-8001/udp
              - target: 9000
                published: "9001"
                host_ip: 127.0.0.1
            volumes:
              - ./data:/data:ro
              - cache:/cache
              - type: tmpfs
                target: /tmp
            healthcheck:
              test: [CMD, curl, -f, http://localhost:8000/]
              interval: 90s
              start_period: 1500ms
            extra_hosts:
              host.docker.internal: host-gateway
            ulimits:
              nofile: {soft: 1024, hard: 2048}
              nproc: 512
            shm_size: 1gb
            stop_grace_period: 1m
            init: true
            depends_on:
              db:
                condition: service_healthy
          db:
            image: postgres
        volumes:
          cache:
    "#});
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

/// The config `devrig init --with TEMPLATE --name demo` writes.
fn template(name: &str) -> String {
    devrig::templates::render("demo", &[name.to_owned()])
        .expect("template")
        .text
}

#[test]
fn yaml_output_is_the_same_plan() {
    Test::new()
        .config(&template("redis"))
        .arg("config")
        .stdout_snapshot()
        .run();
}

#[test]
fn json_output_snapshot() {
    let world = World::new();
    world.config(&template("snuba"));
    world
        .devrig()
        .args(["config", "--json"])
        .stdout_snapshot()
        .run();
    world
        .devrig()
        .args(["list-dependencies", "--json"])
        .stdout_snapshot()
        .run();
}

/// supervisord takes a number or any spelling of a name; the one parsed
/// signal is what the supervisor sends (no name is re-parsed later).
#[test]
fn stop_signals_by_number_and_by_any_spelling() {
    let world = World::new();
    world.config(indoc! {"
        x-sentry-service-config:
          version: 0.1
          service_name: demo
          dependencies:
            by-number: {description: n}
            winch: {description: w}
          modes:
            default: [by-number, winch]
        x-programs:
          by-number:
            command: sleep 100
            stopsignal: 2
          winch:
            command: sleep 100
            stop_signal: sigwinch
    "});
    let plan = plan_json(&world, &[]);
    let programs = &plan["projects"]["demo"]["programs"];
    assert_eq!(programs["by-number"]["stop_signal"], "INT");
    assert_eq!(programs["winch"]["stop_signal"], "WINCH");
}
