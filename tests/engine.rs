//! Containers on the real engine and registry of the testbed
//! (tests/testbed/up.sh): up, readiness, idempotence, down, conflicts.
//! Each test uses its own project names and removes what it made.

mod common;

use common::legacy::{Cleanup, World, docker, free_port, require_testbed, run, unique_project};
use std::time::Instant;

/// A long-running process that stops at once on SIGTERM, from the testbed's
/// redis image: `redis-server` on a private port.
const REDIS: &str = "image: redis:7\n    command: [redis-server, --port, \"7777\", --save, \"\"]";

fn header(project: &str, deps: &[&str], extra_meta: &str) -> String {
    let mut text = format!(
        "x-sentry-service-config:\n  version: 0.1\n  service_name: {project}\n{extra_meta}  dependencies:\n"
    );
    for dep in deps {
        text.push_str(&format!("    {dep}:\n      description: {dep}\n"));
    }
    text.push_str(&format!(
        "  modes:\n    default: [{}]\nservices:\n",
        deps.join(", ")
    ));
    text
}

fn container_id(name: &str) -> String {
    docker(&["inspect", "--format", "{{.Id}}", name])
}

#[test]
fn up_pulls_starts_and_waits_then_down_keeps_containers() {
    require_testbed();
    let world = World::new();
    let project = unique_project("up");
    let _cleanup = Cleanup(vec![project.clone()]);
    let port = free_port();
    world.config(&format!(
        "{}  db:\n    image: postgres:14\n    entrypoint: [redis-server]\n    command: [--port, \"7777\", --save, \"\"]\n    ports: [\"127.0.0.1:{port}:7777\"]\n    volumes: [data:/data]\n    healthcheck:\n      test: redis-cli -p 7777 ping | grep -q PONG\n      interval: 30s\nvolumes:\n  data:\n",
        header(&project, &["db"], "")
    ));
    // A cold image cache: the pull must really go to the registry. (This
    // image is used by no other test, so removing it races with nothing.)
    docker(&["rmi", "-f", "127.0.0.1:5000/library/postgres:14"]);

    let started = Instant::now();
    let (code, _, stderr) = run(&world, world.devrig_engine().arg("up"));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("Pulled 127.0.0.1:5000/library/postgres:14"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("Created {project}-db-1")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("Ready {project}-db-1")),
        "{stderr}"
    );
    // Docker's own healthcheck runs every 30 s: readiness came from devrig's probe.
    assert!(
        started.elapsed().as_secs() < 20,
        "took {:?}",
        started.elapsed()
    );

    let name = format!("{project}-db-1");
    let labels = docker(&["inspect", "--format", "{{json .Config.Labels}}", &name]);
    let labels: serde_json::Value = serde_json::from_str(&labels).expect("labels");
    assert_eq!(labels["com.docker.compose.project"], project.as_str());
    assert_eq!(labels["com.docker.compose.service"], "db");
    assert_eq!(labels["com.docker.compose.container-number"], "1");
    assert_eq!(labels["com.docker.compose.oneoff"], "False");
    assert_eq!(labels["orchestrator"], "devservices");
    assert!(
        labels["com.docker.compose.config-hash"]
            .as_str()
            .is_some_and(|h| h.len() == 64)
    );
    assert_eq!(
        docker(&[
            "volume",
            "ls",
            "-q",
            "--filter",
            &format!("name={project}_data")
        ]),
        format!("{project}_data")
    );
    // The published port answers from the host.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());

    let (code, stdout, _) = run(&world, world.devrig_engine().args(["status", "--json"]));
    assert_eq!(code, 0);
    let status: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let rows = &status["containers"];
    assert_eq!(rows[0]["state"], "running");
    assert_eq!(rows[0]["ports"][0], format!("127.0.0.1:{port}->7777"));

    let id = container_id(&name);
    let (code, _, stderr) = run(&world, world.devrig_engine().arg("down"));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        docker(&["inspect", "--format", "{{.State.Status}}", &name]),
        "exited"
    );
    assert!(
        !docker(&[
            "volume",
            "ls",
            "-q",
            "--filter",
            &format!("name={project}_data")
        ])
        .is_empty(),
        "volume kept"
    );

    // The next up only starts the kept container.
    let (code, _, stderr) = run(&world, world.devrig_engine().arg("up"));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains(&format!("Started {name}")), "{stderr}");
    assert_eq!(container_id(&name), id);
}

#[test]
fn noop_up_does_no_container_work_and_a_changed_service_is_recreated_alone() {
    require_testbed();
    let world = World::new();
    let project = unique_project("idem");
    let _cleanup = Cleanup(vec![project.clone()]);
    let config = |value: &str| {
        format!(
            "{}  a:\n    {REDIS}\n    environment: {{X: \"{value}\"}}\n  b:\n    {REDIS}\n",
            header(&project, &["a", "b"], "")
        )
    };
    world.config(&config("1"));
    let (code, _, stderr) = run(&world, world.devrig_engine().arg("up"));
    assert_eq!(code, 0, "{stderr}");
    let (a, b) = (
        container_id(&format!("{project}-a-1")),
        container_id(&format!("{project}-b-1")),
    );

    let (code, _, stderr) = run(&world, world.devrig_engine().arg("up"));
    assert_eq!(code, 0, "{stderr}");
    for verb in ["Created", "Recreated", "Started"] {
        assert!(
            !stderr.contains(verb),
            "a no-op up does no container work: {stderr}"
        );
    }
    assert_eq!(container_id(&format!("{project}-a-1")), a);

    world.config(&config("2"));
    let (code, _, stderr) = run(&world, world.devrig_engine().arg("up"));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!("Recreated {project}-a-1")),
        "{stderr}"
    );
    assert_ne!(container_id(&format!("{project}-a-1")), a);
    assert_eq!(
        container_id(&format!("{project}-b-1")),
        b,
        "b did not change"
    );
}

#[test]
fn service_healthy_gates_the_dependent_and_one_shots_complete() {
    require_testbed();
    let world = World::new();
    let project = unique_project("order");
    let _cleanup = Cleanup(vec![project.clone()]);
    world.config(&format!(
        "{}  slow:\n    image: redis:7\n    entrypoint: [/bin/sh, -c]\n    command: [\"sleep 2; touch /tmp/ready; exec redis-server --port 7777\"]\n    healthcheck:\n      test: test -f /tmp/ready\n  setup:\n    image: redis:7\n    entrypoint: [/bin/sh, -c]\n    command: [\"sleep 1; exit 0\"]\n  app:\n    {REDIS}\n    depends_on:\n      slow:\n        condition: service_healthy\n      setup:\n        condition: service_completed_successfully\n  independent:\n    {REDIS}\n",
        header(&project, &["app", "independent"], "")
    ));
    let (code, _, stderr) = run(&world, world.devrig_engine().arg("up"));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!("Completed {project}-setup-1")),
        "a one-shot counts as done: {stderr}"
    );
    let ready_at = stderr
        .find(&format!("Ready {project}-slow-1"))
        .expect("slow ready");
    let app_created = stderr
        .find(&format!("Created {project}-app-1"))
        .expect("app created");
    assert!(
        ready_at < app_created,
        "app waited for slow to be healthy:\n{stderr}"
    );
    let independent_ready = stderr
        .find(&format!("Ready {project}-independent-1"))
        .expect("independent ready");
    assert!(
        independent_ready < ready_at,
        "a slow service holds back only what depends on it:\n{stderr}"
    );
}

#[test]
fn healthcheck_timeout_reports_the_probe_and_logs() {
    require_testbed();
    let world = World::new();
    let project = unique_project("timeout");
    let _cleanup = Cleanup(vec![project.clone()]);
    world.config(&format!(
        "{}  sick:\n    image: redis:7\n    entrypoint: [/bin/sh, -c]\n    command: [\"echo booting the sick service; exec redis-server --port 7777\"]\n    healthcheck:\n      test: echo not yet ready >&2; exit 1\n",
        header(&project, &["sick"], "  healthcheck_timeout: 3\n")
    ));
    let started = Instant::now();
    let (code, _, stderr) = run(&world, world.devrig_engine().arg("up"));
    assert_eq!(code, 1, "{stderr}");
    assert!(started.elapsed().as_secs() < 15, "the timeout is honoured");
    assert!(
        stderr.contains(&format!(
            "error: {project}-sick-1 did not become ready within 3s"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("last probe: not yet ready"), "{stderr}");
    assert!(
        stderr.contains("booting the sick service"),
        "the container's log is shown: {stderr}"
    );
    // The stack is left as it is for inspection.
    assert_eq!(
        docker(&[
            "inspect",
            "--format",
            "{{.State.Status}}",
            &format!("{project}-sick-1")
        ]),
        "running"
    );
}

#[test]
fn port_conflicts_are_found_before_anything_is_created() {
    require_testbed();
    let world = World::new();
    let project = unique_project("ports");
    let _cleanup = Cleanup(vec![project.clone()]);
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().expect("addr").port();
    world.config(&format!(
        "{}  web:\n    {REDIS}\n    ports: [\"127.0.0.1:{port}:7777\"]\n",
        header(&project, &["web"], "")
    ));
    let (code, _, stderr) = run(&world, world.devrig_engine().arg("up"));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "port 127.0.0.1:{port}/tcp is already in use by process {}",
            std::process::id()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("config.yml:"),
        "points at the port in the config: {stderr}"
    );
    assert!(
        docker(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=com.docker.compose.project={project}")
        ])
        .is_empty()
    );
    drop(holder);

    // A port published by another project's container is named too.
    let other = unique_project("ports-other");
    let _cleanup_other = Cleanup(vec![other.clone()]);
    let other_world = World::new();
    let port = free_port();
    other_world.config(&format!(
        "{}  holder:\n    {REDIS}\n    ports: [\"127.0.0.1:{port}:7777\"]\n",
        header(&other, &["holder"], "")
    ));
    let (code, _, stderr) = run(&other_world, other_world.devrig_engine().arg("up"));
    assert_eq!(code, 0, "{stderr}");
    world.config(&format!(
        "{}  web:\n    {REDIS}\n    ports: [\"127.0.0.1:{port}:7777\"]\n",
        header(&project, &["web"], "")
    ));
    let (code, _, stderr) = run(&world, world.devrig_engine().arg("up"));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!("container {other}-holder-1 (project {other})")),
        "{stderr}"
    );
}

#[test]
fn unreachable_engine_is_one_clear_error() {
    let world = World::new();
    world.config(&format!(
        "{}  a:\n    {REDIS}\n",
        header("unreachable", &["a"], "")
    ));
    let mut cmd = world.devrig_engine();
    cmd.env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    let (code, _, stderr) = run(&world, cmd.arg("up"));
    assert_eq!(code, 3, "{stderr}");
    insta::assert_snapshot!(stderr, @r"
    error: cannot reach the Docker engine at unix:///nonexistent/docker.sock (DOCKER_HOST): no socket there
    hint: start Docker (Docker Desktop, colima, or `sudo systemctl start docker`), or point DOCKER_HOST/DOCKER_CONTEXT at a running engine; nothing answers at /nonexistent/docker.sock
    ");
    let mut cmd = world.devrig_engine();
    cmd.env("DOCKER_HOST", "tcp://127.0.0.1:1");
    let (code, _, stderr) = run(&world, cmd.arg("status"));
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("cannot reach the Docker engine at tcp://127.0.0.1:1 (DOCKER_HOST)"),
        "{stderr}"
    );
}

/// Two top-level services share a remote `shared` project: `down` of one
/// keeps it for the other, also after the state file is lost.
#[test]
fn shared_dependency_is_kept_on_down_even_after_state_loss() {
    require_testbed();
    let world = World::new();
    let shared = unique_project("shared");
    let (one, two) = (unique_project("one"), unique_project("two"));
    let _cleanup = Cleanup(vec![shared.clone(), one.clone(), two.clone()]);
    let shared_config = format!("{}  cache:\n    {REDIS}\n", header(&shared, &["cache"], ""));
    world.remote_from("shared", |w| {
        std::fs::create_dir_all(w.join("devservices")).expect("mkdir");
        std::fs::write(w.join("devservices/config.yml"), &shared_config).expect("write");
    });
    let root = |name: &str| {
        format!(
            "x-sentry-service-config:\n  version: 0.1\n  service_name: {name}\n  dependencies:\n    shared:\n      description: shared cache\n      remote:\n        repo_name: shared\n        branch: main\n        repo_link: file://{{remotes}}/shared.git\n    app:\n      description: app\n  modes:\n    default: [shared, app]\nservices:\n  app:\n    {REDIS}\n"
        )
    };
    let second = World::new();
    std::fs::remove_dir_all(second.cache()).expect("rm");
    std::os::unix::fs::symlink(world.cache(), second.cache()).expect("share the dependency cache");
    std::fs::remove_dir_all(second.remotes()).expect("rm");
    std::os::unix::fs::symlink(world.remotes(), second.remotes()).expect("share the remotes");
    world.config(&root(&one));
    second.config(&root(&two));
    let state = world.root().join("state");
    let devrig = |w: &World| {
        let mut cmd = w.devrig_engine();
        cmd.env("DEVRIG_STATE_DIR", &state);
        cmd
    };
    for w in [&world, &second] {
        let (code, _, stderr) = run(w, devrig(w).arg("up"));
        assert_eq!(code, 0, "{stderr}");
    }
    let cache = format!("{shared}-cache-1");
    assert_eq!(
        docker(&["inspect", "--format", "{{.State.Status}}", &cache]),
        "running"
    );

    std::fs::remove_file(state.join("state.json")).expect("lose the state");
    let (code, _, stderr) = run(&world, devrig(&world).arg("down"));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!("Kept {shared} running: still used by {two}")),
        "{stderr}"
    );
    assert_eq!(
        docker(&["inspect", "--format", "{{.State.Status}}", &cache]),
        "running"
    );
    assert_eq!(
        docker(&[
            "inspect",
            "--format",
            "{{.State.Status}}",
            &format!("{one}-app-1")
        ]),
        "exited"
    );

    let (code, _, stderr) = run(&second, devrig(&second).arg("down"));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        docker(&["inspect", "--format", "{{.State.Status}}", &cache]),
        "exited",
        "last user gone"
    );
}

#[test]
fn logs_are_multiplexed_with_prefixes() {
    require_testbed();
    let world = World::new();
    let project = unique_project("logs");
    let _cleanup = Cleanup(vec![project.clone()]);
    let talker = |word: &str| {
        format!(
            "    image: redis:7\n    entrypoint: [/bin/sh, -c]\n    command: [\"echo {word} one; echo {word} two; echo {word} three; exec redis-server --port 7777\"]\n"
        )
    };
    world.config(&format!(
        "{}  left:\n{}    depends_on:\n      partial: {{condition: service_completed_successfully}}\n  right:\n{}  partial:\n    image: redis:7\n    entrypoint: [/bin/sh, -c]\n    command: [\"printf 'no newline at the end'\"]\n",
        header(&project, &["left", "right", "partial"], ""),
        talker("alpha"),
        talker("beta")
    ));
    let (code, _, stderr) = run(&world, world.devrig_engine().arg("up"));
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) = run(
        &world,
        world.devrig_engine().args(["logs", "left", "--tail", "50"]),
    );
    assert_eq!(code, 0, "{stderr}");
    let left = format!("{project}-left-1 | alpha two");
    assert!(stdout.lines().any(|l| l == left), "{stdout}");
    assert!(
        !stdout.contains("beta"),
        "only the service asked for: {stdout}"
    );
    let (_, stdout, _) = run(&world, world.devrig_engine().arg("logs"));
    let width = format!("{project}-partial-1").len();
    assert!(
        stdout.contains(&format!(
            "{:<width$} | alpha three",
            format!("{project}-left-1")
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "{:<width$} | beta one",
            format!("{project}-right-1")
        )),
        "{stdout}"
    );
    // A last line without a newline is still a line (the engine gives it
    // out once the one-shot's output ends).
    let (code, stdout, _) = run(&world, world.devrig_engine().args(["logs", "partial"]));
    assert_eq!(code, 0);
    assert_eq!(
        stdout.trim_end(),
        format!("{project}-partial-1 | no newline at the end")
    );
    let (code, _, stderr) = run(&world, world.devrig_engine().args(["logs", "nope"]));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("no service `nope` in this plan"),
        "{stderr}"
    );
}

#[test]
fn reset_deletes_only_that_services_volumes() {
    require_testbed();
    let world = World::new();
    let project = unique_project("reset");
    let _cleanup = Cleanup(vec![project.clone()]);
    world.config(&format!(
        "{}  a:\n    {REDIS}\n    volumes: [a-data:/data, common:/common]\n  b:\n    {REDIS}\n    volumes: [b-data:/data, common:/common]\nvolumes:\n  a-data:\n  b-data:\n  common:\n",
        header(&project, &["a", "b"], "")
    ));
    let (code, _, stderr) = run(&world, world.devrig_engine().arg("up"));
    assert_eq!(code, 0, "{stderr}");
    let volumes = || {
        docker(&[
            "volume",
            "ls",
            "-q",
            "--filter",
            &format!("label=com.docker.compose.project={project}"),
        ])
    };

    let (code, _, stderr) = run(&world, world.devrig_engine().args(["reset", "a"]));
    assert_eq!(code, 2, "no confirmation without a terminal: {stderr}");
    assert!(stderr.contains("pass --yes"), "{stderr}");
    assert_eq!(volumes().lines().count(), 3);

    let (code, _, stderr) = run(&world, world.devrig_engine().args(["reset", "a", "--yes"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!("keeping volume {project}_common")),
        "{stderr}"
    );
    let left = volumes();
    assert!(!left.contains(&format!("{project}_a-data")), "{left}");
    assert!(
        left.contains(&format!("{project}_b-data")) && left.contains(&format!("{project}_common")),
        "{left}"
    );
    assert_eq!(
        docker(&[
            "inspect",
            "--format",
            "{{.State.Status}}",
            &format!("{project}-b-1")
        ]),
        "running"
    );
}

/// The testbed's second engine, listening on loopback TCP
/// (`bash tests/testbed/up.sh`).
const TCP_ENGINE: &str = "tcp://127.0.0.1:2375";

#[test]
fn a_remote_engine_over_tcp_through_docker_host_and_a_context() {
    require_testbed();
    let answers = std::process::Command::new("docker")
        .args([
            "-H",
            TCP_ENGINE,
            "version",
            "--format",
            "{{.Server.Version}}",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        answers,
        "the testbed's TCP engine does not answer at {TCP_ENGINE}; run `bash tests/testbed/up.sh`"
    );
    let world = World::new();
    let project = unique_project("tcp");
    world.config(&format!(
        "{}  db:\n    {REDIS}\n",
        header(&project, &["db"], "")
    ));
    let on_tcp = |args: &[&str]| {
        let out = std::process::Command::new("docker")
            .args(["-H", TCP_ENGINE])
            .args(args)
            .output()
            .expect("docker");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    struct TcpCleanup(String);
    impl Drop for TcpCleanup {
        fn drop(&mut self) {
            let _ = std::process::Command::new("docker")
                .args(["-H", TCP_ENGINE, "rm", "-f", &format!("{}-db-1", self.0)])
                .output();
        }
    }
    let _cleanup = TcpCleanup(project.clone());

    let mut cmd = world.devrig_engine();
    cmd.env("DOCKER_HOST", TCP_ENGINE);
    let (code, _, stderr) = run(&world, cmd.args(["up", "-v"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains(&format!("engine {TCP_ENGINE}")), "{stderr}");
    assert_eq!(
        on_tcp(&[
            "inspect",
            "--format",
            "{{.State.Status}}",
            &format!("{project}-db-1")
        ]),
        "running"
    );
    assert!(
        docker(&["ps", "-aq", "--filter", &format!("name={project}-db-1")]).is_empty(),
        "not on the default engine"
    );

    // The same engine chosen through a docker context as the current one.
    let config_dir = world.root().join("docker-config");
    let name = "devrig-tcp-test";
    let digest = {
        use sha2::Digest;
        sha2::Sha256::digest(name.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let meta = config_dir.join("contexts/meta").join(digest);
    std::fs::create_dir_all(&meta).expect("mkdir");
    std::fs::write(
        meta.join("meta.json"),
        format!(r#"{{"Name":"{name}","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"{TCP_ENGINE}"}}}}}}"#),
    )
    .expect("meta");
    std::fs::write(
        config_dir.join("config.json"),
        format!(r#"{{"currentContext":"{name}"}}"#),
    )
    .expect("config");
    let mut cmd = world.devrig_engine();
    cmd.env("DOCKER_CONFIG", &config_dir);
    let (code, stdout, stderr) = run(&world, cmd.args(["status", "--json"]));
    assert_eq!(code, 0, "{stderr}");
    let status: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let rows = &status["containers"];
    assert_eq!(
        rows[0]["state"], "running",
        "status read the context's engine: {stdout}"
    );
}

#[test]
fn an_existing_volume_of_the_same_name_is_used_not_replaced() {
    require_testbed();
    let world = World::new();
    let project = unique_project("keep");
    let _cleanup = Cleanup(vec![project.clone()]);
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
        "127.0.0.1:5000/library/redis:7",
        "-c",
        "echo precious > /data/marker",
    ]);
    world.config(&format!(
        "{}  db:\n    {REDIS}\n    volumes: [postgres-data:/data]\nvolumes:\n  postgres-data:\n",
        header(&project, &["db"], "")
    ));
    let (code, _, stderr) = run(&world, world.devrig_engine().arg("up"));
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("Created volume"), "{stderr}");
    let marker = docker(&["exec", &format!("{project}-db-1"), "cat", "/data/marker"]);
    assert_eq!(marker, "precious");
}

#[test]
fn ctrl_c_stops_waiting_and_the_next_up_converges() {
    require_testbed();
    let world = World::new();
    let project = unique_project("sigint");
    let _cleanup = Cleanup(vec![project.clone()]);
    world.config(&format!(
        "{}  slow:\n    image: redis:7\n    entrypoint: [/bin/sh, -c]\n    command: [\"sleep 4; touch /tmp/ready; exec redis-server --port 7777\"]\n    healthcheck:\n      test: test -f /tmp/ready\n  after:\n    {REDIS}\n    depends_on:\n      slow:\n        condition: service_healthy\n",
        header(&project, &["after"], "")
    ));
    let child = world
        .devrig_engine_std()
        .arg("up")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("devrig starts");
    // Wait until the slow container exists, then interrupt.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while docker(&["ps", "-q", "--filter", &format!("name={project}-slow-1")]).is_empty() {
        assert!(std::time::Instant::now() < deadline, "slow never started");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let output = child.wait_with_output().expect("devrig exits");
    let stderr = world.scrub(&String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("error: interrupted"), "{stderr}");
    assert!(stderr.contains("run `up` again"), "{stderr}");
    assert!(
        docker(&["ps", "-aq", "--filter", &format!("name={project}-after-1")]).is_empty(),
        "the dependent was not created half-way"
    );

    let (code, _, stderr) = run(&world, world.devrig_engine().arg("up"));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!("Ready {project}-slow-1")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("Ready {project}-after-1")),
        "{stderr}"
    );
}

/// A registry in front of the testbed's that fails the first `failures`
/// manifest requests with 503 and passes everything else through.
fn flaky_registry(failures: usize) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let left = std::sync::Arc::new(AtomicUsize::new(failures));
    let counter = left.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let left = counter.clone();
            std::thread::spawn(move || {
                let mut client = client;
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match client.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                    // dockerd tries TLS first; refusing it makes it fall back to http.
                    if head.first() == Some(&0x16) {
                        return;
                    }
                }
                let line = String::from_utf8_lossy(&head)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                if line.contains("/manifests/")
                    && left
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok()
                {
                    let _ = client.write_all(
                        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    return;
                }
                let Ok(mut upstream) = TcpStream::connect(common::legacy::MIRROR) else {
                    return;
                };
                if upstream.write_all(&head).is_err() {
                    return;
                }
                let (mut c2, mut u2) = (
                    client.try_clone().expect("clone"),
                    upstream.try_clone().expect("clone"),
                );
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c2, &mut u2);
                    let _ = u2.shutdown(std::net::Shutdown::Write);
                });
                let _ = std::io::copy(&mut upstream, &mut client);
            });
        }
    });
    (port, left)
}

#[test]
fn a_pull_that_fails_is_retried() {
    require_testbed();
    let world = World::new();
    let project = unique_project("retry");
    let _cleanup = Cleanup(vec![project.clone()]);
    // dockerd retries a failed manifest request once itself; four failures
    // outlast the engine's own attempts, so devrig's retry is what succeeds.
    let (port, left) = flaky_registry(4);
    let mirror = format!("127.0.0.1:{port}");
    world.config(&format!(
        "{}  db:\n    {REDIS}\n",
        header(&project, &["db"], "")
    ));
    let mut cmd = world.devrig_engine();
    cmd.env("DEVRIG_REGISTRY_MIRROR", &mirror);
    let (code, _, stderr) = run(&world, cmd.arg("up"));
    docker(&["rmi", "-f", &format!("{mirror}/library/redis:7")]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        left.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the registry failed once"
    );
    assert!(
        stderr.contains(&format!(
            "Retrying pull of {mirror}/library/redis:7 (attempt 2)"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("Ready {project}-db-1")),
        "{stderr}"
    );
}

#[test]
fn up_refreshes_remotes_at_most_once_per_ttl() {
    require_testbed();
    let world = World::new();
    let project = unique_project("ttl");
    let remote_project = unique_project("ttl-remote");
    let _cleanup = Cleanup(vec![project.clone(), remote_project.clone()]);
    let remote = format!(
        "{}  cache:\n    {REDIS}\n",
        header(&remote_project, &["cache"], "")
    );
    world.remote_from("cache", |w| {
        std::fs::create_dir_all(w.join("devservices")).expect("mkdir");
        std::fs::write(w.join("devservices/config.yml"), &remote).expect("write");
    });
    world.config(&format!(
        "x-sentry-service-config:\n  version: 0.1\n  service_name: {project}\n  dependencies:\n    cache:\n      description: c\n      remote: {{repo_name: cache, branch: main, repo_link: \"file://{{remotes}}/cache.git\"}}\n  modes:\n    default: [cache]\n"
    ));
    let (code, _, stderr) = run(&world, world.devrig_engine().arg("up"));
    assert_eq!(code, 0, "{stderr}");
    // Without the remote, an up within the TTL must not even try the network…
    std::fs::rename(
        world.remotes().join("cache.git"),
        world.remotes().join("gone.git"),
    )
    .expect("hide");
    let (code, _, stderr) = run(&world, world.devrig_engine().arg("up"));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        !stderr.contains("could not refresh"),
        "no fetch within the TTL: {stderr}"
    );
    // …while past it (TTL 0) it tries, fails, and falls back with one warning.
    let mut cmd = world.devrig_engine();
    cmd.env("DEVRIG_REMOTE_TTL", "0");
    let (code, _, stderr) = run(&world, cmd.arg("up"));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stderr
            .matches("could not refresh `cache` (branch `main`)")
            .count(),
        1,
        "{stderr}"
    );
}

#[test]
fn concurrent_ups_are_serialized_and_status_works_before_anything_runs() {
    require_testbed();
    let world = World::new();
    let project = unique_project("concurrent");
    let _cleanup = Cleanup(vec![project.clone()]);
    world.config(&format!(
        "{}  a:\n    {REDIS}\n  b:\n    {REDIS}\n",
        header(&project, &["a", "b"], "")
    ));
    let (code, stdout, stderr) = run(&world, world.devrig_engine().args(["status", "--json"]));
    assert_eq!(code, 0, "{stderr}");
    let status: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let rows = &status["containers"];
    assert_eq!(rows[0]["state"], "missing");
    assert_eq!(rows[0]["status"], "not created");

    let children: Vec<_> = (0..2)
        .map(|_| {
            world
                .devrig_engine_std()
                .arg("up")
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("devrig starts")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("devrig exits");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
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
        &std::fs::read_to_string(world.root().join("state/state.json")).expect("state"),
    )
    .expect("json");
    assert_eq!(state["services"][project.as_str()]["mode"], "default");
}

#[test]
fn doctor_checks_the_engine_disk_and_the_default_modes_ports() {
    require_testbed();
    let world = World::new();
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().expect("addr").port();
    world.config(&format!(
        "{}  web:\n    {REDIS}\n    ports: [\"127.0.0.1:{port}:7777\"]\n",
        header("doctorports", &["web"], "")
    ));
    let (code, stdout, stderr) = run(&world, world.devrig_engine().args(["doctor", "--json"]));
    assert_eq!(code, 1, "the taken port fails the doctor: {stderr}");
    let checks: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let by_id = |id: &str| {
        checks
            .as_array()
            .expect("list")
            .iter()
            .find(|c| c["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no {id}: {stdout}"))
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
            {
                let cmdline = std::fs::read("/proc/self/cmdline").expect("cmdline");
                String::from_utf8_lossy(&cmdline)
                    .replace('\0', " ")
                    .trim()
                    .to_owned()
            }
        )
    );
    assert!(
        ports["fix"]
            .as_str()
            .expect("fix")
            .contains("another host port")
    );
    drop(holder);
    let (code, stdout, _) = run(&world, world.devrig_engine().args(["doctor", "--json"]));
    assert_eq!(code, 0, "{stdout}");
}

/// Without an engine, serve warns and goes on instead
/// (tests/serve.rs, `an_absent_engine_is_a_warning_and_serve_goes_on`).
#[test]
fn serve_names_the_containers_that_are_not_running() {
    let world = common::World::engine("serve-check");
    let project = world.project();
    world.config(&common::formatdoc! {"
        x-sentry-service-config:
          version: 0.1
          service_name: {project}
          dependencies:
            db: {{description: db}}
            devserver: {{description: dev server}}
          modes:
            default: [db, devserver]
        x-programs:
          devserver:
            command: echo served
        services:
          db:
            image: postgres:14-alpine
    "});
    world
        .devrig()
        .arg("serve")
        .code(1)
        .stderr_contains(format!("not running: {project}/db (missing)"))
        .stderr_contains("devrig up")
        .stdout_lacks("served")
        .run();
}
