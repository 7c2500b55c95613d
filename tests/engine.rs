//! Containers on the real engine and registry of the testbed
//! (tests/testbed/up.sh): up, readiness, idempotence, down, conflicts.
//! Each test's world has its own compose project and removes what it made.

mod common;

use common::{
    MIRROR, TCP_ENGINE, World, assert_status_schema, container_id, container_state,
    devserver_beside_a_db, devservices_config, docker, docker_at, formatdoc, indoc,
    project_containers, wait_for,
};
use std::time::Duration;

/// A long-running process that stops at once on SIGTERM, from the testbed's
/// redis image: `redis-server` on a private port. Goes under a service, at
/// four spaces.
const REDIS: &str = "image: redis:7\n    command: [redis-server, --port, \"7777\", --save, \"\"]";

/// A project `project` whose default mode is its one service `service`,
/// whose definition (under `services:`, at four spaces) is `body`.
fn one_service(project: &str, service: &str, body: &str) -> String {
    devservices_config(project, &format!("services:\n  {service}:\n    {body}\n"))
}

#[test]
fn up_pulls_starts_and_waits_then_down_keeps_containers() {
    let world = World::engine("up");
    let project = world.project();
    let port = world.port();
    world.config(&devservices_config(
        project,
        &formatdoc! {r#"
        services:
          db:
            image: postgres:14
            entrypoint: [redis-server]
            command: [--port, "7777", --save, ""]
            ports: ["127.0.0.1:{port}:7777"]
            volumes: [data:/data]
            healthcheck:
              test: redis-cli -p 7777 ping | grep -q PONG
              interval: 30s
        volumes:
          data:
    "#},
    ));
    // A cold image cache: the pull must really go to the registry. (This
    // image is used by no other test, so removing it races with nothing.)
    docker(&["rmi", "-f", "127.0.0.1:5000/library/postgres:14"]);

    // Pulled, created, ready.
    world.devrig().arg("up").stderr_snapshot().run();
    let name = format!("{project}-db-1");
    // Docker's own healthcheck runs every 30 s and has not run yet:
    // readiness came from devrig's probe.
    assert_eq!(
        docker(&["inspect", "--format", "{{.State.Health.Status}}", &name]),
        "starting"
    );

    let labels = docker(&["inspect", "--format", "{{json .Config.Labels}}", &name]);
    let labels: serde_json::Value = serde_json::from_str(&labels).expect("labels");
    assert_eq!(labels["com.docker.compose.project"], project);
    assert_eq!(labels["com.docker.compose.service"], "db");
    assert_eq!(labels["com.docker.compose.container-number"], "1");
    assert_eq!(labels["com.docker.compose.oneoff"], "False");
    assert_eq!(labels["orchestrator"], "devservices");
    assert!(
        labels["com.docker.compose.config-hash"]
            .as_str()
            .is_some_and(|h| h.len() == 64)
    );
    // compose's other labels: the image the container was made from (by
    // id, as compose compares it) and its dependencies (none here).
    assert_eq!(
        labels["com.docker.compose.image"],
        docker(&["inspect", "--format", "{{.Image}}", &name]).as_str()
    );
    assert_eq!(labels["com.docker.compose.depends_on"], "");
    let volume = || {
        docker(&[
            "volume",
            "ls",
            "-q",
            "--filter",
            &format!("name={project}_data"),
        ])
    };
    assert_eq!(volume(), format!("{project}_data"));
    // The published port answers from the host.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());

    let status = world.status();
    let rows = &status["containers"];
    assert_eq!(rows[0]["state"], "running");
    assert_eq!(
        rows[0]["ports"][0],
        serde_json::json!({"host_ip": "127.0.0.1", "host_port": port, "container_port": 7777, "protocol": "tcp"})
    );
    // Right after `up`, status says what `up` found: ready, whatever
    // Docker's own healthcheck (every 30 s) says yet.
    assert_eq!(rows[0]["health"], "ready", "{status}");
    assert_eq!(rows[0]["docker_health"], "starting", "{status}");
    assert!(rows[0]["started_at"].is_string(), "{status}");
    assert!(rows[0]["exit_code"].is_null(), "{status}");

    let id = container_id(&name);
    world.devrig().arg("down").run();
    assert_eq!(container_state(&name), "exited");
    let status = world.status();
    let rows = &status["containers"];
    assert_eq!(rows[0]["state"], "exited", "{status}");
    assert_eq!(rows[0]["exit_code"], 0, "{status}");
    assert_eq!(rows[0]["health"], "none", "{status}");
    // The human table reads it as stopped, not as a failure.
    let table = world.devrig().arg("status").run().stdout;
    assert!(table.starts_with("NAME"), "a header row: {table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(&name) && l.contains("stopped")),
        "{table}"
    );
    assert!(!volume().is_empty(), "volume kept");

    // The next up only starts the kept container.
    world
        .devrig()
        .arg("up")
        .stderr_contains(format!("Started {name}"))
        .run();
    assert_eq!(container_id(&name), id);
}

#[test]
fn noop_up_does_no_container_work_and_a_changed_service_is_recreated_alone() {
    let world = World::engine("idem");
    let project = world.project();
    let config = |value: &str| {
        devservices_config(
            project,
            &formatdoc! {r#"
            services:
              a:
                {REDIS}
                environment: {{X: "{value}"}}
              b:
                {REDIS}
        "#},
        )
    };
    world.config(&config("1"));
    world.devrig().arg("up").run();
    let (a, b) = (
        container_id(&format!("{project}-a-1")),
        container_id(&format!("{project}-b-1")),
    );

    // A no-op up does no container work: no Created, Recreated or Started.
    let _filters = world.snapshot_settings().bind_to_scope();
    let noop = world.devrig().arg("up").run();
    insta::assert_snapshot!(noop.stderr, @"          Up [PROJECT] (mode default) in [DURATION]");
    assert_eq!(container_id(&format!("{project}-a-1")), a);

    world.config(&config("2"));
    world
        .devrig()
        .arg("up")
        .stderr_contains(format!("Recreated {project}-a-1"))
        .run();
    assert_ne!(container_id(&format!("{project}-a-1")), a);
    assert_eq!(
        container_id(&format!("{project}-b-1")),
        b,
        "b did not change"
    );
}

#[test]
fn service_healthy_gates_the_dependent_and_one_shots_complete() {
    let world = World::engine("order");
    let project = world.project();
    world.config(&formatdoc! {r#"
        x-sentry-service-config:
          version: 0.1
          service_name: {project}
          dependencies:
            app:
              description: app
            independent:
              description: independent
          modes:
            default: [app, independent]
        services:
          slow:
            image: redis:7
            entrypoint: [/bin/sh, -c]
            command: ["sleep 2; touch /tmp/ready; exec redis-server --port 7777"]
            healthcheck:
              test: test -f /tmp/ready
          setup:
            image: redis:7
            entrypoint: [/bin/sh, -c]
            command: ["sleep 1; exit 0"]
          app:
            {REDIS}
            depends_on:
              slow:
                condition: service_healthy
              setup:
                condition: service_completed_successfully
          independent:
            {REDIS}
    "#});
    let up = world
        .devrig()
        .arg("up")
        // A one-shot counts as done.
        .stderr_contains(format!("Completed {project}-setup-1"))
        .run();
    let ready_at = up.stderr_at(&format!("Ready {project}-slow-1"));
    assert!(
        ready_at < up.stderr_at(&format!("Created {project}-app-1")),
        "app waited for slow to be healthy:\n{}",
        up.stderr
    );
    assert!(
        up.stderr_at(&format!("Ready {project}-independent-1")) < ready_at,
        "a slow service holds back only what depends on it:\n{}",
        up.stderr
    );
}

#[test]
fn healthcheck_timeout_reports_the_probe_and_logs() {
    let world = World::engine("timeout");
    let project = world.project();
    world.config(&formatdoc! {r#"
        x-sentry-service-config:
          version: 0.1
          service_name: {project}
          healthcheck_timeout: 3
          dependencies:
            sick:
              description: sick
          modes:
            default: [sick]
        services:
          sick:
            image: redis:7
            entrypoint: [/bin/sh, -c]
            command: ["echo booting the sick service; exec redis-server --port 7777"]
            healthcheck:
              test: echo not yet ready >&2; exit 1
    "#});
    world
        .devrig()
        .arg("up")
        .code(1)
        .stderr_contains(format!(
            "error: {project}-sick-1 did not become ready within 3s"
        ))
        .stderr_contains("last probe: not yet ready")
        // The container's log is shown.
        .stderr_contains("booting the sick service")
        .run();
    // The stack is left as it is for inspection.
    assert_eq!(container_state(&format!("{project}-sick-1")), "running");
}

#[test]
fn port_conflicts_are_found_before_anything_is_created() {
    let world = World::engine("ports");
    let project = world.project();
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().expect("addr").port();
    let web = |port: u16| {
        one_service(
            project,
            "web",
            &format!("{REDIS}\n    ports: [\"127.0.0.1:{port}:7777\"]"),
        )
    };
    world.config(&web(port));
    world
        .devrig()
        .arg("up")
        .code(1)
        .stderr_contains(format!(
            "port 127.0.0.1:{port}/tcp is already in use by process {}",
            std::process::id()
        ))
        // It points at the port in the config.
        .stderr_contains("config.yml:")
        .run();
    assert!(project_containers(project).is_empty());
    drop(holder);

    // A port published by another project's container is named too.
    let other = World::engine("ports-other");
    let port = other.port();
    other.config(&one_service(
        other.project(),
        "holder",
        &format!("{REDIS}\n    ports: [\"127.0.0.1:{port}:7777\"]"),
    ));
    other.devrig().arg("up").run();
    world.config(&web(port));
    world
        .devrig()
        .arg("up")
        .code(1)
        .stderr_contains(format!(
            "container {0}-holder-1 (project {0})",
            other.project()
        ))
        .run();
}

#[test]
fn unreachable_engine_is_one_clear_error() {
    let world = World::new();
    world.config(&one_service("unreachable", "a", REDIS));
    world
        .devrig()
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .arg("up")
        .code(3)
        .stderr(indoc! {"
            error: cannot reach the Docker engine at unix:///nonexistent/docker.sock (DOCKER_HOST): no socket there
            hint: start Docker (Docker Desktop, colima, or `sudo systemctl start docker`), or point DOCKER_HOST/DOCKER_CONTEXT at a running engine; nothing answers at /nonexistent/docker.sock
        "})
        .run();
    world
        .devrig()
        .env("DOCKER_HOST", "tcp://127.0.0.1:1")
        .arg("status")
        .code(3)
        .stderr_contains("cannot reach the Docker engine at tcp://127.0.0.1:1 (DOCKER_HOST)")
        .run();
}

/// Two repos on one machine (the second shares the first's dependency
/// cache, remotes and state) whose default modes use a remote `shared`
/// project (a redis, `cache`) and their own `app`: a redis in the first,
/// `second_app` (a service body) in the second. Returns both worlds and
/// the shared project's name.
fn two_repos_sharing_a_remote(second_app: &str) -> (World, World, String) {
    let (world, second) = (World::engine("one"), World::engine("two"));
    let shared = world.other_project("shared");
    world.remote_config("shared", &one_service(&shared, "cache", REDIS));
    let root = |name: &str, app: &str| {
        formatdoc! {"
            x-sentry-service-config:
              version: 0.1
              service_name: {name}
              dependencies:
                shared:
                  description: shared cache
                  remote:
                    repo_name: shared
                    branch: main
                    repo_link: file://{{remotes}}/shared.git
                app:
                  description: app
              modes:
                default: [shared, app]
            services:
              app:
                {app}
        "}
    };
    std::fs::create_dir_all(world.state_dir()).expect("mkdir");
    for (dir, of) in [
        (second.cache(), world.cache()),
        (second.remotes(), world.remotes()),
        (second.state_dir(), world.state_dir()),
    ] {
        let _ = std::fs::remove_dir_all(&dir);
        std::os::unix::fs::symlink(of, dir).expect("share the dir");
    }
    world.config(&root(world.project(), REDIS));
    second.config(&root(second.project(), second_app));
    (world, second, shared)
}

/// Two top-level services share a remote `shared` project: `down` of one
/// keeps it for the other, also after the state file is lost.
#[test]
fn shared_dependency_is_kept_on_down_even_after_state_loss() {
    let (world, second, shared) = two_repos_sharing_a_remote(REDIS);
    world.devrig().arg("up").run();
    second.devrig().arg("up").run();
    let cache = format!("{shared}-cache-1");
    assert_eq!(container_state(&cache), "running");

    std::fs::remove_file(world.state_dir().join("state.json")).expect("lose the state");
    world
        .devrig()
        .arg("down")
        .stderr_contains(format!("Kept {shared} running: still used by "))
        .stderr_contains(second.project())
        .run();
    assert_eq!(container_state(&cache), "running");
    assert_eq!(
        container_state(&format!("{}-app-1", world.project())),
        "exited"
    );

    // Lost again, while the other repo's plan cannot be resolved (its
    // config broken meanwhile): what runs of the remotes is kept for it.
    world.devrig().arg("up").run();
    std::fs::remove_file(world.state_dir().join("state.json")).expect("lose the state");
    let config = second.repo().join("devservices/config.yml");
    let intact = std::fs::read_to_string(&config).expect("read");
    std::fs::write(&config, "x-sentry-service-config: [").expect("break it");
    world
        .devrig()
        .arg("down")
        .stderr_contains(format!("Kept {shared} running: still used by "))
        .stderr_contains(second.project())
        .run();
    assert_eq!(container_state(&cache), "running");
    std::fs::write(&config, intact).expect("mend it");

    second.devrig().arg("down").run();
    assert_eq!(container_state(&cache), "exited", "last user gone");
}

/// An `up` killed (-9) while it waits for readiness has already recorded
/// what it uses: `down` of the other repo then keeps the shared remote
/// running under it.
#[test]
fn a_killed_up_still_holds_its_shared_dependency() {
    // Never ready: the `up` waits until it is killed.
    let never = format!("{REDIS}\n    healthcheck:\n      test: \"false\"\n      interval: 1s");
    let (world, second, shared) = two_repos_sharing_a_remote(&never);
    world.devrig().arg("up").run();
    let app = format!("{}-app-1", second.project());
    let up = second.spawn(["up"]);
    wait_for("the never-ready container", Duration::from_secs(30), || {
        container_state(&app) == "running"
    });
    up.signal(libc::SIGKILL);
    let (status, _, stderr) = up.wait();
    assert_eq!(status.code(), None, "killed: {stderr}");

    let cache = format!("{shared}-cache-1");
    world
        .devrig()
        .arg("down")
        .stderr_contains(format!("Kept {shared} running: still used by "))
        .stderr_contains(second.project())
        .run();
    assert_eq!(container_state(&cache), "running");
    second.devrig().arg("down").run();
    assert_eq!(container_state(&cache), "exited", "last user gone");
}

#[test]
fn logs_are_multiplexed_with_prefixes() {
    let world = World::engine("logs");
    let project = world.project();
    world.config(&devservices_config(project, &formatdoc! {r#"
        services:
          left:
            image: redis:7
            entrypoint: [/bin/sh, -c]
            command: ["echo alpha one; echo alpha two; echo alpha three; exec redis-server --port 7777"]
            depends_on:
              partial: {{condition: service_completed_successfully}}
          right:
            image: redis:7
            entrypoint: [/bin/sh, -c]
            command: ["echo beta one; echo beta two; echo beta three; exec redis-server --port 7777"]
          partial:
            image: redis:7
            entrypoint: [/bin/sh, -c]
            command: ["printf 'no newline at the end'"]
    "#}));
    world.devrig().arg("up").run();
    let out = world
        .devrig()
        .args(["logs", "left", "--tail", "50"])
        // Only the service asked for.
        .stdout_lacks("beta")
        .run();
    let left = format!("{project}-left-1 | alpha two");
    assert!(out.stdout.lines().any(|l| l == left), "{}", out.stdout);

    let width = format!("{project}-partial-1").len();
    world
        .devrig()
        .arg("logs")
        .stdout_contains(format!(
            "{:<width$} | alpha three",
            format!("{project}-left-1")
        ))
        .stdout_contains(format!(
            "{:<width$} | beta one",
            format!("{project}-right-1")
        ))
        .run();
    // A last line without a newline is still a line (the engine gives it
    // out once the one-shot's output ends).
    world
        .devrig()
        .args(["logs", "partial"])
        .stdout(&format!("{project}-partial-1 | no newline at the end\n"))
        .run();
    world
        .devrig()
        .args(["logs", "nope"])
        .code(2)
        .stderr_contains("no service `nope` in this plan")
        .run();
}

/// `logs` of a container the engine does not have (never started, or
/// removed) says which and how to start it, exit 1, instead of printing
/// nothing.
#[test]
fn logs_of_a_missing_container_is_an_error_naming_it() {
    let world = World::engine("logsgone");
    let project = world.project();
    world.config(&devservices_config(
        project,
        &formatdoc! {"
        services:
          kv:
            {REDIS}
          cache:
            {REDIS}
    "},
    ));
    let _filters = world.snapshot_settings().bind_to_scope();
    // Never started: the whole mode, and one service by name.
    world.devrig().arg("logs").code(1).stderr_snapshot().run();
    world
        .devrig()
        .args(["logs", "kv"])
        .code(1)
        .stderr_snapshot()
        .run();

    world.devrig().arg("up").run();
    world.docker(&["rm", "-f", &format!("{project}-kv-1")]);
    // Removed: named, it is an error; the whole mode shows what is there.
    world
        .devrig()
        .args(["logs", "kv"])
        .code(1)
        .stderr_contains(format!("{project}-kv-1 has no container on the engine"))
        .run();
    world
        .devrig()
        .arg("logs")
        .code(0)
        .stdout_contains(format!("{project}-cache-1 |"))
        .run();
}

#[test]
fn reset_deletes_only_that_services_volumes() {
    let world = World::engine("reset");
    let project = world.project();
    world.config(&devservices_config(
        project,
        &formatdoc! {"
        services:
          a:
            {REDIS}
            volumes: [a-data:/data, common:/common]
          b:
            {REDIS}
            volumes: [b-data:/data, common:/common]
        volumes:
          a-data:
          b-data:
          common:
    "},
    ));
    world.devrig().arg("up").run();
    let volumes = || {
        docker(&[
            "volume",
            "ls",
            "-q",
            "--filter",
            &format!("label=com.docker.compose.project={project}"),
        ])
    };

    // No confirmation without a terminal.
    world
        .devrig()
        .args(["reset", "a"])
        .code(2)
        .stderr_contains("pass --yes")
        .run();
    assert_eq!(volumes().lines().count(), 3);

    world
        .devrig()
        .args(["reset", "a", "--yes"])
        .stderr_contains(format!("keeping volume {project}_common"))
        .run();
    let left = volumes();
    assert!(!left.contains(&format!("{project}_a-data")), "{left}");
    assert!(
        left.contains(&format!("{project}_b-data")) && left.contains(&format!("{project}_common")),
        "{left}"
    );
    assert_eq!(container_state(&format!("{project}-b-1")), "running");
}

/// A volume made by hand (no labels) with the name `up` would give its
/// own is adopted, data kept; `reset` then refuses to delete it, before
/// stopping anything, and says how to do it by hand.
#[test]
fn reset_refuses_a_volume_it_adopted() {
    let world = World::engine("adopt");
    let project = world.project();
    world.config(&devservices_config(
        project,
        &formatdoc! {"
        services:
          kv:
            {REDIS}
            volumes: [kv-data:/data]
        volumes:
          kv-data:
    "},
    ));
    let volume = format!("{project}_kv-data");
    docker(&["volume", "create", &volume]);
    world.devrig().arg("up").run();
    let _filters = world.snapshot_settings().bind_to_scope();
    world
        .devrig()
        .args(["reset", "kv", "--yes"])
        .code(1)
        .stderr_snapshot()
        .run();
    assert_eq!(
        docker(&["volume", "ls", "-q", "--filter", &format!("name={volume}")]).trim(),
        volume
    );
    assert_eq!(container_state(&format!("{project}-kv-1")), "running");
    docker(&["volume", "rm", "-f", &volume]);
}

/// `docker -H TCP_ENGINE ARGS`, its stdout trimmed.
fn on_tcp(args: &[&str]) -> String {
    docker_at(Some(TCP_ENGINE), args)
}

/// Removes a container from the TCP engine when dropped.
struct TcpCleanup(String);

impl Drop for TcpCleanup {
    fn drop(&mut self) {
        on_tcp(&["rm", "-f", &self.0]);
    }
}

#[test]
fn a_remote_engine_over_tcp_through_docker_host_and_a_context() {
    let world = World::engine("tcp");
    // Its container is on the TCP engine, where purge's tests remove
    // every devservices container.
    let _hold = common::EngineHold::shared(TCP_ENGINE);
    common::require_engine_at(TCP_ENGINE);
    let project = world.project();
    let db = format!("{project}-db-1");
    let _cleanup = TcpCleanup(db.clone());
    world.config(&one_service(project, "db", REDIS));

    world
        .devrig()
        .env("DOCKER_HOST", TCP_ENGINE)
        .args(["up", "-v"])
        .stderr_contains(format!("engine {TCP_ENGINE}"))
        .run();
    assert_eq!(
        on_tcp(&["inspect", "--format", "{{.State.Status}}", &db]),
        "running"
    );
    assert!(
        docker(&["ps", "-aq", "--filter", &format!("name={db}")]).is_empty(),
        "not on the default engine"
    );

    // The same engine chosen through a docker context as the current one.
    let config_dir = world.docker_context("devrig-tcp-test", TCP_ENGINE);
    let out = world
        .devrig()
        .env("DOCKER_CONFIG", &config_dir)
        .args(["status", "--json"])
        .run();
    assert_eq!(
        out.json()["containers"][0]["state"],
        "running",
        "status read the context's engine: {}",
        out.stdout
    );
}

#[test]
fn an_existing_volume_of_the_same_name_is_used_not_replaced() {
    let world = World::engine("keep");
    let project = world.project();
    // The volume devservices (or compose) made for this project earlier.
    let volume = format!("{project}_postgres-data");
    docker(&[
        "volume",
        "create",
        "--label",
        &format!("com.docker.compose.project={project}"),
        &volume,
    ]);
    docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        &format!("{volume}:/data"),
        "--entrypoint",
        "/bin/sh",
        &format!("{MIRROR}/library/redis:7"),
        "-c",
        "echo precious > /data/marker",
    ]);
    world.config(&devservices_config(
        project,
        &formatdoc! {"
        services:
          db:
            {REDIS}
            volumes: [postgres-data:/data]
        volumes:
          postgres-data:
    "},
    ));
    world
        .devrig()
        .arg("up")
        .stderr_lacks("Created volume")
        .run();
    let marker = docker(&["exec", &format!("{project}-db-1"), "cat", "/data/marker"]);
    assert_eq!(marker, "precious");
}

#[test]
fn ctrl_c_stops_waiting_and_the_next_up_converges() {
    let world = World::engine("sigint");
    let project = world.project();
    world.config(&formatdoc! {r#"
        x-sentry-service-config:
          version: 0.1
          service_name: {project}
          dependencies:
            after:
              description: after
          modes:
            default: [after]
        services:
          slow:
            image: redis:7
            entrypoint: [/bin/sh, -c]
            command: ["sleep 4; touch /tmp/ready; exec redis-server --port 7777"]
            healthcheck:
              test: test -f /tmp/ready
          after:
            {REDIS}
            depends_on:
              slow:
                condition: service_healthy
    "#});
    let up = world.spawn(["up"]);
    // Interrupted once the slow container runs.
    wait_for("the slow container", Duration::from_secs(20), || {
        !docker(&["ps", "-q", "--filter", &format!("name={project}-slow-1")]).is_empty()
    });
    up.signal(libc::SIGINT);
    let (status, _, stderr) = up.wait();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("error: interrupted"), "{stderr}");
    assert!(stderr.contains("run `up` again"), "{stderr}");
    assert!(
        docker(&["ps", "-aq", "--filter", &format!("name={project}-after-1")]).is_empty(),
        "the dependent was not created half-way"
    );
    // What the interrupted `up` started is recorded as in use, so another
    // service's `down` would not stop it under this one.
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(world.state_dir().join("state.json")).expect("state saved"),
    )
    .expect("state is JSON");
    assert_eq!(
        state["services"][&project]["projects"],
        serde_json::json!([project]),
        "{state}"
    );

    world
        .devrig()
        .arg("up")
        .stderr_contains(format!("Ready {project}-slow-1"))
        .stderr_contains(format!("Ready {project}-after-1"))
        .run();
}

#[test]
fn ctrl_c_ends_the_wait_for_another_devrigs_state_lock() {
    let world = World::engine("lockwait");
    let project = world.project();
    world.config(&formatdoc! {r#"
        x-sentry-service-config:
          version: 0.1
          service_name: {project}
          dependencies:
            kv:
              description: kv
          modes:
            default: [kv]
        services:
          kv:
            {REDIS}
    "#});
    // Another devrig holds the state (flock, the lock devrig takes; `-o`:
    // held by flock itself, so killing it frees the lock).
    std::fs::create_dir_all(world.state_dir()).expect("state dir");
    let mut holder = std::process::Command::new("flock")
        .arg("-o")
        .arg(world.state_dir().join("state.lock"))
        .args(["sleep", "60"])
        .spawn()
        .expect("flock runs");
    let up = world.spawn(["-v", "up"]);
    // The engine answered: what comes next is the wait for the state.
    up.wait_for_stderr("the engine note", |err| err.contains("via "));
    up.signal(libc::SIGINT);
    let (status, _, stderr) = up.wait();
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("another devrig held the state"), "{stderr}");
    assert!(
        docker(&["ps", "-aq", "--filter", &format!("name={project}-kv-1")]).is_empty(),
        "nothing was created"
    );
}

/// A registry in front of the testbed's that fails the first `failures`
/// manifest requests with 503 and passes everything else through.
fn flaky_registry(failures: usize) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let left = std::sync::Arc::new(AtomicUsize::new(failures));
    let counter = left.clone();
    let port = common::registry_proxy(move |line| {
        if line.contains("/manifests/")
            && counter
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            common::Verdict::Respond(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
        } else {
            common::Verdict::Relay
        }
    });
    (port, left)
}

#[test]
fn a_pull_that_fails_is_retried() {
    let world = World::engine("retry");
    let project = world.project();
    // dockerd retries a failed manifest request once itself; four failures
    // outlast the engine's own attempts, so devrig's retry is what succeeds.
    let (port, left) = flaky_registry(4);
    let mirror = format!("127.0.0.1:{port}");
    world.config(&one_service(project, "db", REDIS));
    let up = world
        .devrig()
        .env("DEVRIG_REGISTRY_MIRROR", &mirror)
        .arg("up")
        .any_code()
        .run();
    docker(&["rmi", "-f", &format!("{mirror}/library/redis:7")]);
    assert_eq!(up.code, 0, "{}", up.stderr);
    assert_eq!(
        left.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the registry failed once"
    );
    assert!(
        up.stderr.contains(&format!(
            "Retrying pull of {mirror}/library/redis:7 (attempt 2)"
        )),
        "{}",
        up.stderr
    );
    assert!(
        up.stderr.contains(&format!("Ready {project}-db-1")),
        "{}",
        up.stderr
    );
}

#[test]
fn up_refreshes_remotes_at_most_once_per_ttl() {
    let world = World::engine("ttl");
    let project = world.project();
    let remote_project = world.other_project("ttl-remote");
    world.remote_config("cache", &one_service(&remote_project, "cache", REDIS));
    world.config(&formatdoc! {r#"
        x-sentry-service-config:
          version: 0.1
          service_name: {project}
          dependencies:
            cache:
              description: c
              remote: {{repo_name: cache, branch: main, repo_link: "file://{{remotes}}/cache.git"}}
          modes:
            default: [cache]
    "#});
    world.devrig().arg("up").run();
    // Without the remote, an up within the TTL must not even try the network…
    std::fs::rename(
        world.remotes().join("cache.git"),
        world.remotes().join("gone.git"),
    )
    .expect("hide");
    world
        .devrig()
        .arg("up")
        .stderr_lacks("could not refresh")
        .run();
    // …while past it (TTL 0) it tries, fails, and falls back with one warning.
    let up = world.devrig().env("DEVRIG_REMOTE_TTL", "0").arg("up").run();
    assert_eq!(
        up.stderr
            .matches("could not refresh `cache` (branch `main`)")
            .count(),
        1,
        "{}",
        up.stderr
    );
}

#[test]
fn concurrent_ups_are_serialized_and_status_works_before_anything_runs() {
    let world = World::engine("concurrent");
    let project = world.project();
    world.config(&devservices_config(
        project,
        &formatdoc! {"
        services:
          a:
            {REDIS}
          b:
            {REDIS}
    "},
    ));
    let status = world.status();
    let rows = &status["containers"];
    assert_eq!(rows[0]["state"], "missing");
    assert_eq!(rows[0]["status"], "not created");

    let ups: Vec<_> = (0..2).map(|_| world.spawn(["up"])).collect();
    for up in ups {
        let (status, _, stderr) = up.wait();
        assert!(status.success(), "{stderr}");
    }
    // One container per service, and the state file records the service once.
    for service in ["a", "b"] {
        let ids = docker(&[
            "ps",
            "-aq",
            "--filter",
            &format!("name=^{project}-{service}-1$"),
        ]);
        assert_eq!(ids.lines().count(), 1, "{service}: {ids}");
    }
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(world.state_dir().join("state.json")).expect("state"),
    )
    .expect("json");
    assert_eq!(state["services"][project]["mode"], "default");
}

#[test]
fn doctor_checks_the_engine_disk_and_the_default_modes_ports() {
    let world = World::engine("doctorports");
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().expect("addr").port();
    world.config(&one_service(
        world.project(),
        "web",
        &format!("{REDIS}\n    ports: [\"127.0.0.1:{port}:7777\"]"),
    ));
    // The taken port fails the doctor.
    let out = world.devrig().args(["doctor", "--json"]).code(1).run();
    let checks = out.json();
    let by_id = |id: &str| {
        checks
            .as_array()
            .expect("list")
            .iter()
            .find(|c| c["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no {id}: {}", out.stdout))
    };
    assert_eq!(by_id("docker.engine")["outcome"], "ok");
    assert!(
        by_id("docker.engine")["finding"]
            .as_str()
            .expect("finding")
            .starts_with("Docker ")
    );
    assert!(
        by_id("docker.disk")["finding"]
            .as_str()
            .expect("finding")
            .contains("GiB free in ")
    );
    let ports = by_id("docker.ports");
    assert_eq!(ports["outcome"], "fail");
    assert_eq!(
        ports["finding"],
        format!(
            "port 127.0.0.1:{port}/tcp is already in use by process {} ({})",
            std::process::id(),
            common::cmdline(i64::from(std::process::id())).trim()
        )
    );
    assert!(
        ports["fix"]
            .as_str()
            .expect("fix")
            .contains("another host port")
    );
    drop(holder);
    world.devrig().args(["doctor", "--json"]).run();
}

/// Without an engine, serve warns and goes on instead
/// (tests/serve.rs, `an_absent_engine_is_a_warning_and_serve_goes_on`).
#[test]
fn serve_names_the_containers_that_are_not_running() {
    let world = World::engine("serve-check");
    let project = world.project();
    world.config(&devserver_beside_a_db(project));
    world
        .devrig()
        .arg("serve")
        .code(1)
        .stderr_contains(format!("not running: {project}/db (missing)"))
        .stderr_contains("devrig up")
        .stdout_lacks("served")
        .run();
}

#[test]
fn status_json_follows_its_schema_running_stopped_and_missing() {
    let world = World::engine("schema");
    let project = world.project();
    let sleep = common::marker();
    let port = world.port();
    world.config(&formatdoc! {r#"
        x-sentry-service-config:
          version: 0.1
          service_name: {project}
          dependencies:
            db: {{description: db}}
            extra: {{description: extra}}
            worker: {{description: worker}}
          modes:
            default: [db, worker]
            more: [db, extra]
        x-programs:
          worker:
            command: sleep {sleep}
        services:
          db:
            {REDIS}
            ports: ["127.0.0.1:{port}:7777"]
            healthcheck:
              test: redis-cli -p 7777 ping | grep -q PONG
              interval: 30s
          extra:
            {REDIS}
    "#});
    world.devrig().arg("up").run();
    let status = world.status();
    assert_status_schema(&status);
    assert_eq!(status["programs"][0]["state"], "running", "{status}");
    assert!(status["programs"][0]["started_at"].is_string(), "{status}");
    assert_eq!(status["local"], serde_json::json!([]), "always there");

    // Without --mode: the mode it runs in. With one: that mode, whose
    // `extra` was never created.
    let more = world
        .devrig()
        .args(["--json", "status", "--mode", "more"])
        .run()
        .json();
    assert_status_schema(&more);
    assert_eq!(more["containers"][1]["state"], "missing", "{more}");
    assert_eq!(status["containers"].as_array().map(Vec::len), Some(1));

    world.devrig().arg("down").run();
    let stopped = world.status();
    assert_status_schema(&stopped);
    assert_eq!(stopped["containers"][0]["exit_code"], 0, "{stopped}");
    assert_eq!(stopped["programs"][0]["state"], "stopped", "{stopped}");
}

/// Builds `tag` from the test bed's redis image with `healthcheck` as the
/// image's own HEALTHCHECK instruction (the real docker build, offline).
fn image_with_healthcheck(world: &World, tag: &str, healthcheck: &str) {
    let dir = world.root().join(format!("image-{tag}"));
    common::write(
        &dir.join("Dockerfile"),
        &format!("FROM {MIRROR}/library/redis:7\nHEALTHCHECK --interval=30s {healthcheck}\n"),
    );
    let out = std::process::Command::new("docker")
        .args(["build", "-q", "-t", tag])
        .arg(&dir)
        .output()
        .expect("docker build runs");
    assert!(
        out.status.success(),
        "docker build: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_images_own_healthcheck_is_probed_when_the_config_gives_no_test() {
    let world = World::engine("imagehc");
    let project = world.project();
    // Named under the mirror, so the mirrored reference is the local image.
    let (sick, fine) = (
        format!("{MIRROR}/devrig-test/sick-{project}"),
        format!("{MIRROR}/devrig-test/fine-{project}"),
    );
    image_with_healthcheck(&world, &sick, "CMD echo the image says no >&2; exit 1");
    image_with_healthcheck(&world, &fine, "CMD redis-cli -p 7777 ping");
    // Healthcheck timings without a test (as sentry's spotlight has), and
    // no healthcheck at all: the image's test decides both.
    world.config(&formatdoc! {r#"
        x-sentry-service-config:
          version: 0.1
          service_name: {project}
          healthcheck_timeout: 3
          dependencies:
            fine: {{description: fine}}
            sick: {{description: sick}}
          modes:
            default: [fine, sick]
        services:
          fine:
            image: {fine}
            command: [redis-server, --port, "7777"]
          sick:
            image: {sick}
            command: [redis-server, --port, "7777"]
            healthcheck:
              interval: 30s
              timeout: 5s
    "#});
    world
        .devrig()
        .arg("up")
        .code(1)
        .stderr_contains(format!("Ready {project}-fine-1"))
        .stderr_contains(format!(
            "error: {project}-sick-1 did not become ready within 3s"
        ))
        .stderr_contains("last probe: the image says no")
        .run();
    let _ = world.docker(&["rmi", "-f", &sick, &fine]);
}

#[test]
fn a_crash_looping_container_is_never_ready_and_up_again_is_not_stopped_by_its_port() {
    let world = World::engine("crashloop");
    let project = world.project();
    let port = world.port();
    world.config(&formatdoc! {r#"
        x-sentry-service-config:
          version: 0.1
          service_name: {project}
          healthcheck_timeout: 3
          dependencies:
            flaky: {{description: flaky}}
          modes:
            default: [flaky]
        services:
          flaky:
            image: redis:7
            entrypoint: [/bin/sh, -c]
            command: ["echo crashing; exit 1"]
            restart: always
            ports: ["127.0.0.1:{port}:7777"]
    "#});
    let first = world.devrig().arg("up").code(1).run();
    assert!(
        !first.stderr.contains(&format!("Ready {project}-flaky-1")),
        "{}",
        first.stderr
    );
    assert!(
        first.stderr.contains("did not become ready")
            || first.stderr.contains("exited with code 1"),
        "{}",
        first.stderr
    );
    // Up again while the engine restarts it: its own port is not a conflict.
    let again = world.devrig().arg("up").code(1).run();
    assert!(
        !again.stderr.contains("already in use"),
        "its own container's port: {}",
        again.stderr
    );
}

#[test]
fn down_reports_only_what_it_stopped() {
    let world = World::engine("downonly");
    let project = world.project();
    world.config(&formatdoc! {r#"
        x-sentry-service-config:
          version: 0.1
          service_name: {project}
          dependencies:
            one: {{description: one}}
            two: {{description: two}}
          modes:
            default: [one, two]
            small: [one]
        services:
          one:
            {REDIS}
          two:
            {REDIS}
    "#});
    world.devrig().args(["up", "--mode", "small"]).run();
    world
        .devrig()
        .args(["down", "--mode", "default"])
        .stderr_contains(format!("Stopped {project}-one-1"))
        .stderr_lacks(format!("Stopped {project}-two-1"))
        .run();
}

/// Builds and pushes `reference` to the test bed's registry: its redis
/// with a label saying which build it is. Locally `reference` still names
/// the image it named before (a newer build is only in the registry, as
/// when someone else pushed it).
fn push_build(world: &World, reference: &str, build: &str) {
    let before = docker(&["image", "inspect", "--format", "{{.Id}}", reference]);
    let dir = world.root().join(format!("build-{build}"));
    common::write(
        &dir.join("Dockerfile"),
        &format!("FROM {MIRROR}/library/redis:7\nLABEL devrig.test.build={build}\n"),
    );
    for args in [
        vec!["build", "-q", "-t", reference, dir.to_str().expect("utf-8")],
        vec!["push", "-q", reference],
    ] {
        let out = std::process::Command::new("docker")
            .args(&args)
            .output()
            .expect("docker runs");
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if before.starts_with("sha256:") {
        docker(&["tag", &before, reference]);
    }
}

#[test]
fn a_moving_tag_is_rechecked_once_per_ttl_and_only_a_changed_image_recreates() {
    let world = World::engine("pulls");
    let project = world.project();
    let repository = format!("devrig-test/moving-{project}");
    let reference = format!("{MIRROR}/{repository}:nightly");
    push_build(&world, &reference, "one");
    world.config(&formatdoc! {r#"
        x-sentry-service-config:
          version: 0.1
          service_name: {project}
          dependencies:
            app: {{description: app}}
            steady: {{description: steady}}
          modes:
            default: [app, steady]
        services:
          app:
            image: {repository}:nightly
            command: [redis-server, --port, "7777", --save, ""]
          steady:
            {REDIS}
    "#});
    let app = format!("{project}-app-1");
    let build = || {
        docker(&[
            "inspect",
            "--format",
            "{{index .Config.Labels \"devrig.test.build\"}}",
            &app,
        ])
    };
    world.devrig().arg("up").run();
    assert_eq!(build(), "one");

    // A newer nightly in the registry. Within the TTL, `up` asks nobody.
    push_build(&world, &reference, "two");
    world
        .devrig()
        .arg("up")
        .stderr_lacks("Checked")
        .stderr_lacks("Pulled")
        .run();
    assert_eq!(build(), "one");

    // Past the TTL: the moving tag is checked, the newer image comes, and
    // only its container is recreated.
    world
        .devrig()
        .arg("up")
        .env("DEVRIG_PULL_TTL", "0")
        .stderr_contains(format!("Pulled {reference} (a newer image)"))
        .stderr_contains(format!("Recreated {app} (a newer image)"))
        .stderr_lacks(format!("Recreated {project}-steady-1"))
        .run();
    assert_eq!(build(), "two");
    // Checked again with nothing new: nothing is recreated.
    world
        .devrig()
        .arg("up")
        .env("DEVRIG_PULL_TTL", "0")
        .stderr_contains(format!("Checked {reference} (up to date)"))
        .stderr_lacks("Recreated")
        .run();
    // `--pull never` and `--offline` ask no registry at all.
    push_build(&world, &reference, "three");
    for flag in ["--offline", "--pull=never"] {
        world
            .devrig()
            .args(["up", flag])
            .env("DEVRIG_PULL_TTL", "0")
            .stderr_lacks("Checked")
            .stderr_lacks("Pulled")
            .run();
    }
    assert_eq!(build(), "two");
    let _ = world.docker(&["rmi", "-f", &reference]);
}

/// snuba's real clickhouse asks 262144 open files; an engine that cannot
/// raise its containers' limits past its own (this VM's: 20000) refuses.
fn clickhouse_like_ulimits(world: &World) {
    let project = world.project();
    world.config(&formatdoc! {r#"
        x-sentry-service-config:
          version: 0.1
          service_name: {project}
          dependencies:
            clickhouse: {{description: clickhouse}}
          modes:
            default: [clickhouse]
        services:
          clickhouse:
            {REDIS}
            ulimits:
              nofile:
                soft: 262144
                hard: 262144
    "#});
}

#[test]
fn a_ulimit_the_engine_cannot_grant_is_refused_before_anything_is_made() {
    let world = World::engine("ulimit");
    let project = world.project();
    clickhouse_like_ulimits(&world);
    let out = world
        .devrig()
        .arg("up")
        .code(1)
        .stderr_contains(format!(
            "error: {project}/clickhouse asks `ulimits.nofile` 262144, more than the engine can give a container ("
        ))
        .stderr_contains("config.yml:13:7")
        .stderr_contains("hint: lower `ulimits.nofile` to ")
        .run();
    assert!(!out.stderr.contains("rlimit type"), "{}", out.stderr);
    assert!(
        world
            .docker(&[
                "ps",
                "-aq",
                "--filter",
                &format!("name={project}-clickhouse-1")
            ])
            .is_empty(),
        "nothing was created"
    );
}

#[test]
fn an_engine_that_refuses_a_ulimit_at_start_is_translated() {
    // The TCP engine: its limit cannot be read from here, so the engine's
    // own refusal is what devrig sees.
    let world = World::engine_at("ulimittcp", common::TCP_ENGINE);
    let project = world.project();
    clickhouse_like_ulimits(&world);
    world
        .devrig()
        .arg("up")
        .code(1)
        .stderr_contains(format!(
            "error: the engine refused `ulimits.nofile` of {project}/clickhouse: "
        ))
        .stderr_contains("rlimit type 7")
        .stderr_contains("config.yml:13:7")
        .stderr_contains("hint: the engine cannot give its containers that much")
        .run();
}

/// A container the engine will not create as configured is an error that
/// names the service at its definition's line and keeps the engine's own
/// words; the services that could start still do.
#[test]
fn a_service_the_engine_refuses_is_named_at_its_line_with_the_engines_reason() {
    let world = World::engine("refused");
    let project = world.project();
    world.config(&devservices_config(
        project,
        &formatdoc! {"
        services:
          kv:
            {REDIS}
          odd:
            {REDIS}
            cap_add: [NOT_A_CAPABILITY]
    "},
    ));
    let _filters = world.snapshot_settings().bind_to_scope();
    world.devrig().arg("up").code(1).stderr_snapshot().run();
}
