//! The stack on another machine: `DOCKER_HOST=ssh://devbox`, the test
//! bed's network namespace with its own sshd and dockerd
//! (tests/testbed/README.md), reached through OpenSSH as a user reaches
//! theirs. What its containers publish is on its loopback, out of this
//! machine's reach, so every port the tests use here works only because
//! devrig forwards it; the tests look at the devbox's engine through its
//! socket, and inside its namespace with `nsenter`.

mod common;

use common::{
    DEVBOX, DEVBOX_SOCKET, World, devservices_config, docker_at, formatdoc, indoc, on_devbox,
    processes_with, wait_for,
};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

/// How long a forward may take to come back after its connection is killed.
const RECONNECT: Duration = Duration::from_secs(20);

/// `redis-cli -p PORT ping` on this machine's loopback.
fn redis_ping(port: u16) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "ping"])
        .output()
        .expect("redis-cli runs (the test bed installs redis-tools)");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Whether something accepts connections on this machine's `127.0.0.1:PORT`.
fn listening_here(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// A redis on `port` (container and host side alike), published on the
/// devbox's loopback, under a service at four spaces.
fn redis_on(port: u16) -> String {
    formatdoc! {r#"
        image: redis:7
            command: [redis-server, --port, "{port}", --save, ""]
            ports: ["127.0.0.1:{port}:{port}"]
            healthcheck:
              test: redis-cli -p {port} ping | grep -q PONG"#}
}

/// Project `project` whose one service, `cache`, is [`redis_on`] `port`.
fn cache_on(project: &str, port: u16) -> String {
    devservices_config(
        project,
        &formatdoc! {"
            services:
              cache:
                {redis}
        ",
            redis = redis_on(port),
        },
    )
}

/// The ids of the world's project's containers on the devbox.
fn containers_of(world: &World) -> String {
    world.docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=com.docker.compose.project={}", world.project()),
    ])
}

/// `cmd` in container `name` on the devbox, its stdout trimmed.
fn exec_on_devbox(name: &str, cmd: &[&str]) -> String {
    let mut args = vec!["exec", name];
    args.extend(cmd);
    docker_at(Some(DEVBOX_SOCKET), &args)
}

/// The SSH master devrig made for this world (its control socket is in the
/// world's runtime dir): `pid: command line`.
fn masters(world: &World) -> Vec<String> {
    let control = world.root().join("run/devrig/ssh");
    processes_with(&format!("ControlPath={}", control.display()))
        .into_iter()
        .filter(|p| p.contains(" -M "))
        .collect()
}

#[test]
fn the_demo_stack_on_the_devbox_is_reached_on_local_ports_and_down_closes_them() {
    let world = World::devbox("rdemo");
    let project = world.project();
    world
        .devrig()
        .args(["init", "--force", "--name", project])
        .run();
    for port in [5432, 6379, 1218] {
        assert!(
            !listening_here(port),
            "127.0.0.1:{port} is free here before `up` (the devbox's ports are not)"
        );
    }

    let up = world
        .devrig()
        .args(["up", "-v"])
        .stderr_contains("engine ssh://devbox")
        .stderr_contains(format!(
            "Forwarded 127.0.0.1:5432 → devbox 127.0.0.1:5432 ({project}/postgres)"
        ))
        .run();
    assert!(
        up.stderr_at("Forwarded 127.0.0.1:6379")
            < up.stderr_at(&format!("Ready {project}-redis-1")),
        "the forwards are up before the containers are:\n{}",
        up.stderr
    );
    // The containers run on the devbox, not on this machine's engine.
    let remote = docker_at(Some(DEVBOX_SOCKET), &["ps", "--format", "{{.Names}}"]);
    assert!(
        remote.contains(&format!("{project}-postgres-1")),
        "{remote}"
    );
    assert!(common::project_containers(project).is_empty());

    // The image's entrypoint answers pg_isready on its socket while its
    // first start initializes the database; TCP comes right after.
    let mut psql = String::new();
    wait_for(
        "psql here to reach the devbox's postgres",
        Duration::from_secs(30),
        || {
            let out = Command::new("psql")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    "5432",
                    "-U",
                    "postgres",
                    "-d",
                    "postgres",
                ])
                .args(["-tA", "-c", "select 40 + 2"])
                .output()
                .expect("psql runs");
            psql = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            out.status.success()
        },
    );
    assert_eq!(psql, "42");
    assert_eq!(redis_ping(6379), "PONG");
    let health = Command::new("curl")
        .args(["-sf", "http://127.0.0.1:1218/health"])
        .output()
        .expect("curl");
    assert!(health.status.success(), "snuba answers through its forward");
    // The example worker on this machine talks to the remote redis.
    wait_for("the worker to reach redis", Duration::from_secs(15), || {
        world.program_log("worker").contains("redis says +PONG")
    });

    let status = world.status();
    let remote = &status["remote"];
    assert_eq!(remote["engine"], DEVBOX, "{status}");
    assert_eq!(remote["connection"], "connected", "{status}");
    let forwards = remote["forwards"].as_array().expect("forwards");
    assert_eq!(forwards.len(), 8, "every published port: {status}");
    for forward in forwards {
        assert_eq!(forward["state"], "up", "{forward}");
        assert_eq!(forward["direction"], "local", "{forward}");
    }
    assert!(
        forwards
            .iter()
            .any(|f| f["listen"] == "127.0.0.1:5432"
                && f["purpose"] == format!("{project}/postgres")),
        "{status}"
    );
    let table = world.devrig().arg("status").run().stdout;
    let row = |first: &str| {
        table
            .lines()
            .find(|l| l.starts_with(first))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|| panic!("no row for {first}:\n{table}"))
    };
    assert_eq!(row("ssh://devbox"), "ssh://devbox connected - engine");
    assert_eq!(
        row("127.0.0.1:6379 "),
        format!("127.0.0.1:6379 up - forward to devbox 127.0.0.1:6379 ({project}/redis)")
    );

    world
        .devrig()
        .arg("down")
        .stderr_contains("Stopped worker")
        .run();
    for port in [5432, 6379, 9092, 9093, 8123, 9000, 9009, 1218] {
        assert!(
            !listening_here(port),
            "nothing listens on {port} after down"
        );
    }
    assert!(
        processes_with(&format!("__supervise {project}")).is_empty(),
        "the supervisor that kept the forwards is gone"
    );
}

#[test]
fn a_container_on_the_devbox_reaches_a_program_here_through_host_docker_internal() {
    let world = World::devbox("callback");
    let project = world.project();
    let (redis, web) = (world.port(), world.port());
    let served = world.root().join("served");
    common::write(&served.join("hello.txt"), "hello from this machine\n");
    world.config(&devservices_config(
        project,
        &formatdoc! {r#"
            services:
              relay:
                {redis}
                extra_hosts:
                  - host.docker.internal:host-gateway
            x-programs:
              devserver:
                command: python3 -m http.server {web} --bind 127.0.0.1 --directory {dir}
                ports: ["127.0.0.1:{web}"]
        "#,
            redis = redis_on(redis),
            dir = served.display(),
        },
    ));
    world
        .devrig()
        .arg("up")
        .stderr_contains(format!(
            "Forwarded devbox 10.217.0.1:{web} → 127.0.0.1:{web} (program devserver)"
        ))
        .run();
    let relay = format!("{project}-relay-1");
    let mut fetched = String::new();
    wait_for(
        "the container to reach the dev server",
        Duration::from_secs(15),
        || {
            fetched = exec_on_devbox(
                &relay,
                &[
                    "wget",
                    "-q",
                    "-O",
                    "-",
                    &format!("http://host.docker.internal:{web}/hello.txt"),
                ],
            );
            !fetched.is_empty()
        },
    );
    assert_eq!(fetched, "hello from this machine");
    let status = world.status();
    let back = status["remote"]["forwards"]
        .as_array()
        .expect("forwards")
        .iter()
        .find(|f| f["direction"] == "remote")
        .cloned()
        .expect("a reverse forward");
    assert_eq!(back["listen"], format!("10.217.0.1:{web}"), "{status}");
    assert_eq!(back["state"], "up", "{status}");
}

#[test]
fn a_changed_bind_mounted_file_is_copied_and_its_container_recreated() {
    let world = World::devbox("mounts");
    let project = world.project();
    let port = world.port();
    world.file("devservices/relay/config.yml", "version: one\n");
    world.config(&devservices_config(
        project,
        &formatdoc! {r#"
            services:
              relay:
                {redis}
                volumes:
                  - ./relay/config.yml:/etc/relay/config.yml:ro
        "#,
            redis = redis_on(port),
        },
    ));
    let relay = format!("{project}-relay-1");
    world
        .devrig()
        .arg("up")
        .stderr_contains("Copied [TMP]/repo/devservices/relay/config.yml to devbox:")
        .run();
    assert_eq!(
        exec_on_devbox(&relay, &["cat", "/etc/relay/config.yml"]),
        "version: one"
    );
    let source = docker_at(
        Some(DEVBOX_SOCKET),
        &[
            "inspect",
            "--format",
            "{{range .Mounts}}{{.Source}}{{end}}",
            &relay,
        ],
    );
    assert!(
        source.contains("/.cache/devrig/mounts/")
            && !source.starts_with(&world.root().display().to_string()),
        "the mount points at the copy on the devbox: {source}"
    );
    let first = docker_at(
        Some(DEVBOX_SOCKET),
        &["inspect", "--format", "{{.Id}}", &relay],
    );

    // Unchanged: nothing copied, nothing recreated.
    world
        .devrig()
        .arg("up")
        .stderr_lacks("Copied")
        .stderr_lacks("Recreated")
        .run();

    world.file("devservices/relay/config.yml", "version: two\n");
    world
        .devrig()
        .arg("up")
        .stderr_contains("Copied [TMP]/repo/devservices/relay/config.yml")
        .stderr_contains(format!("Recreated {relay}"))
        .run();
    assert_eq!(
        exec_on_devbox(&relay, &["cat", "/etc/relay/config.yml"]),
        "version: two"
    );
    assert_ne!(
        docker_at(
            Some(DEVBOX_SOCKET),
            &["inspect", "--format", "{{.Id}}", &relay]
        ),
        first
    );
    let newer = docker_at(
        Some(DEVBOX_SOCKET),
        &[
            "inspect",
            "--format",
            "{{range .Mounts}}{{.Source}}{{end}}",
            &relay,
        ],
    );
    let older = std::path::Path::new(&source)
        .parent()
        .expect("its copy's directory");
    assert!(
        !older.exists(),
        "the older copy is gone from the devbox: {}",
        older.display()
    );
    assert_ne!(newer, source);
}

#[test]
fn a_bind_mount_outside_the_repo_is_refused_before_anything_starts() {
    let world = World::devbox("outside");
    let project = world.project();
    world.config(&devservices_config(
        project,
        indoc! {"
            services:
              relay:
                image: redis:7
                volumes:
                  - /etc/hostname:/etc/host-name:ro
        "},
    ));
    world.devrig().arg("up").code(2).stderr_snapshot().run();
    assert_eq!(containers_of(&world), "", "nothing was created");
}

#[test]
fn forwards_come_back_when_the_ssh_connection_is_killed() {
    let world = World::devbox("reconnect");
    let project = world.project();
    let port = world.port();
    world.config(&cache_on(project, port));
    world.devrig().arg("up").run();
    assert_eq!(redis_ping(port), "PONG");

    let master = masters(&world);
    assert_eq!(
        master.len(),
        1,
        "one connection for the engine and the forwards: {master:?}"
    );
    let pid: i64 = master[0]
        .split(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a pid");
    common::kill(pid, libc::SIGKILL);
    wait_for("the forward to come back", RECONNECT, || {
        redis_ping(port) == "PONG"
    });
    let log =
        std::fs::read_to_string(world.log_dir().join("devrig/supervisor.log")).expect("its log");
    assert!(
        log.contains("the connection to ssh://devbox was lost"),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "forwarding 127.0.0.1:{port} → devbox 127.0.0.1:{port}"
        )),
        "{log}"
    );
    assert_eq!(
        masters(&world).len(),
        1,
        "a new master: {:?}",
        masters(&world)
    );
    let status = world.status();
    assert_eq!(status["remote"]["connection"], "connected", "{status}");
    assert_eq!(status["remote"]["forwards"][0]["state"], "up", "{status}");
}

#[test]
fn a_docker_context_with_an_ssh_endpoint_is_the_devbox() {
    let world = World::devbox("context");
    let project = world.project();
    let port = world.port();
    world.config(&cache_on(project, port));
    let config_dir = world.docker_context("devbox", DEVBOX);
    // The world's DOCKER_HOST would win over any context: this run has none.
    let mut up = world.command();
    up.env_remove("DOCKER_HOST")
        .env("DOCKER_CONFIG", &config_dir)
        .args(["up", "-v"]);
    let out = up.output().expect("devrig runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("engine ssh://devbox") && stderr.contains("context `devbox`"),
        "{stderr}"
    );
    assert_eq!(redis_ping(port), "PONG");
    assert_eq!(
        exec_on_devbox(
            &format!("{project}-cache-1"),
            &["redis-cli", "-p", &port.to_string(), "ping"]
        ),
        "PONG"
    );
}

#[test]
fn a_port_taken_on_either_side_is_refused_naming_the_side_and_the_holder() {
    let world = World::devbox("taken");
    let project = world.project();
    let (here, there) = (world.port(), world.port());
    world.config(&cache_on(project, here));
    // Here: the forward's port is held by this test.
    let holder = std::net::TcpListener::bind(("127.0.0.1", here)).expect("bind");
    world
        .devrig()
        .arg("up")
        .code(1)
        .stderr_contains(format!(
            "port 127.0.0.1:{here}/tcp on this machine (forwarded from devbox) is already in use by process"
        ))
        .stderr_contains(format!("(needed by {project}/cache)"))
        .run();
    drop(holder);

    // There: a process on the devbox listens on the container's port.
    world.config(&cache_on(project, there));
    let mut listener = on_devbox(
        "python3",
        &[
            "-c",
            &format!(
                "import socket, sys, time\ns = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', {there})); s.listen(); print('ready', flush=True); time.sleep(120)"
            ),
        ],
    )
    .stdout(std::process::Stdio::piped())
    .spawn()
    .expect("nsenter runs");
    {
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(listener.stdout.as_mut().expect("piped"))
            .read_line(&mut line)
            .expect("its first line");
        assert_eq!(line.trim(), "ready");
    }
    let refused = world
        .devrig()
        .arg("up")
        .code(1)
        .stderr_contains(format!(
            "port 127.0.0.1:{there}/tcp on devbox is already in use by a process on devbox"
        ))
        .run();
    let _ = listener.kill();
    let _ = listener.wait();
    assert_eq!(
        containers_of(&world),
        "",
        "nothing was created: {}",
        refused.stderr
    );
}

#[test]
fn an_unreachable_devbox_a_refused_login_and_no_docker_there_are_clear_errors() {
    let world = World::new();
    world.config(&devservices_config(
        "unreachable",
        indoc! {"
            services:
              cache:
                image: redis:7
        "},
    ));
    let _filters = world.snapshot_settings().bind_to_scope();
    for host in [
        "ssh://devbox-down",
        "ssh://devbox-unknown-key",
        "ssh://devbox-no-docker",
    ] {
        world
            .devrig()
            .env("DOCKER_HOST", host)
            .arg("status")
            .code(3)
            .stderr_snapshot()
            .run();
    }
    assert!(
        masters(&world).is_empty(),
        "a connection that serves no engine is not left behind: {:?}",
        masters(&world)
    );
}
