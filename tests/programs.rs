//! Supervised programs (`x-programs`) as real processes: start order after
//! a healthy container, restarts with backoff and `fatal`, captured and
//! rotated logs, `status`, `down` leaving nothing behind (also after the
//! supervisor is killed with SIGKILL), and `foreground` hand-off.

mod common;

use common::legacy::{Cleanup, World, free_port, require_testbed, run, unique_project, wait_for};
use serde_json::Value;
use std::time::{Duration, Instant};

/// A config with containers `services` (YAML under `services:`) and
/// programs `programs` (YAML under `x-programs:`), all in mode default.
fn config(project: &str, containers: &[&str], services: &str, programs: &[(&str, &str)]) -> String {
    let mut deps: Vec<&str> = containers.to_vec();
    deps.extend(programs.iter().map(|(name, _)| *name));
    let mut text = format!(
        "x-sentry-service-config:\n  version: 0.1\n  service_name: {project}\n  dependencies:\n"
    );
    for dep in &deps {
        text.push_str(&format!("    {dep}:\n      description: {dep}\n"));
    }
    text.push_str(&format!("  modes:\n    default: [{}]\n", deps.join(", ")));
    text.push_str("x-programs:\n");
    for (name, body) in programs {
        text.push_str(&format!("  {name}:\n"));
        for line in body.lines() {
            text.push_str(&format!("    {line}\n"));
        }
    }
    text.push_str("services:\n");
    text.push_str(services);
    text
}

/// For [`config`]: a repo with programs only.
const NO_CONTAINERS: &str = "  {}\n";

/// Runs `up` and returns what it printed; it must succeed.
fn up(world: &World) -> String {
    let (code, _, stderr) = run(world, world.devrig_engine().arg("up"));
    assert_eq!(code, 0, "{stderr}");
    stderr
}

/// The pid of the running supervisor, from `status`.
fn supervisor_pid(world: &World) -> i64 {
    status(world)["supervisor_pid"]
        .as_i64()
        .expect("a supervisor runs")
}

/// Runs `down` when dropped, so a failing test leaves no supervisor or
/// program running.
struct Down<'a>(&'a World);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = self.0.devrig_engine().arg("down").output();
    }
}

fn status(world: &World) -> Value {
    let (code, stdout, stderr) = run(world, world.devrig_engine().args(["status", "--json"]));
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).expect("status is JSON")
}

fn program<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["programs"]
        .as_array()
        .expect("programs")
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no program {name} in {status}"))
}

/// Processes (not zombies) whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let zombie = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            == Some("Z");
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if !zombie && cmdline.contains(marker) && pid != std::process::id() {
            found.push(format!("{pid}: {cmdline}"));
        }
    }
    found
}

/// Sleep durations no other process on the machine uses, to find a test's
/// processes in the process table.
fn marker(salt: u32) -> String {
    format!("{}", 200_000 + (std::process::id() % 50_000) * 10 + salt)
}

#[test]
fn programs_start_after_a_healthy_container_and_down_leaves_no_process() {
    require_testbed();
    let world = World::new();
    let project = unique_project("prog");
    let _cleanup = Cleanup(vec![project.clone()]);
    let _down = Down(&world);
    let port = free_port();
    let (lead, child) = (marker(1), marker(2));
    // The worker asks redis for PONG the moment it starts: it only gets one
    // if the container was ready first. It leaves a background child in its
    // process group, which `down` must take too.
    world.config(&config(
        &project,
        &["db"],
        &format!(
            "  db:\n    image: redis:7\n    command: [redis-server, --port, \"7777\", --save, \"\"]\n    ports: [\"127.0.0.1:{port}:7777\"]\n    healthcheck:\n      test: redis-cli -p 7777 ping | grep -q PONG\n      interval: 30s\n"
        ),
        &[(
            "worker",
            &format!(
                "command: sh -c 'python3 ping.py && (sleep {child} &) && exec sleep {lead}'\nenvironment:\n  REDIS_PORT: \"{port}\"\nstopwaitsecs: 5"
            ),
        )],
    ));
    world.file(
        "ping.py",
        "import os, socket\ns = socket.create_connection(('127.0.0.1', int(os.environ['REDIS_PORT'])))\ns.sendall(b'PING\\r\\n')\nprint('redis says', s.recv(16).decode().strip(), 'color', os.environ.get('FORCE_COLOR'))\n",
    );

    let stderr = up(&world);
    let ready = stderr
        .find(&format!("Ready {project}-db-1"))
        .expect(&stderr);
    let running = stderr.find("Running worker").expect(&stderr);
    assert!(ready < running, "{stderr}");
    wait_for("the worker's output", Duration::from_secs(10), || {
        world
            .program_log(&project, "worker")
            .contains("redis says +PONG color 1")
    });

    let status = status(&world);
    assert_eq!(status["containers"][0]["state"], "running", "{status}");
    let worker = program(&status, "worker");
    assert_eq!(worker["state"], "running", "{status}");
    assert!(worker["pid"].as_i64().is_some(), "{status}");
    assert_eq!(processes_with(&format!("sleep {lead}")).len(), 1);
    assert_eq!(processes_with(&format!("sleep {child}")).len(), 1);

    // Human output: the container and the program side by side.
    let (code, table, _) = run(&world, world.devrig_engine().arg("status"));
    assert_eq!(code, 0);
    assert!(table.contains(&format!("{project}-db-1")), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("worker") && l.contains("running") && l.contains("pid")),
        "{table}"
    );

    // `logs` without names: the container's and the program's lines, each
    // with its prefix.
    let (code, stdout, stderr) = run(&world, world.devrig_engine().args(["logs", "--tail", "5"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with(&format!("{project}-db-1 |"))),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.contains("| redis says +PONG")),
        "{stdout}"
    );

    let (code, _, stderr) = run(&world, world.devrig_engine().arg("down"));
    assert_eq!(code, 0, "{stderr}");
    let stopped_program = stderr.find("Stopped worker").expect(&stderr);
    let stopped_container = stderr.find(&format!("{project}-db-1")).expect(&stderr);
    assert!(
        stopped_program < stopped_container,
        "programs go first:\n{stderr}"
    );
    assert_eq!(
        processes_with(&format!("sleep {lead}")),
        Vec::<String>::new()
    );
    assert_eq!(
        processes_with(&format!("sleep {child}")),
        Vec::<String>::new()
    );
    let after = self::status(&world);
    assert_eq!(after["supervisor_pid"], Value::Null, "{after}");
    assert_eq!(program(&after, "worker")["state"], "stopped");
}

#[test]
fn a_crashing_program_is_restarted_with_backoff_then_marked_fatal() {
    require_testbed();
    let world = World::new();
    let project = unique_project("crash");
    let _down = Down(&world);
    world.config(&config(
        &project,
        &[],
        NO_CONTAINERS,
        &[
            (
                "crasher",
                "command: sh -c 'echo boom; exit 3'\nstartretries: 2",
            ),
            ("steady", "command: sleep 600"),
        ],
    ));
    let began = Instant::now();
    let (code, _, stderr) = run(&world, world.devrig_engine().arg("up"));
    // Three starts, 1 s then 2 s apart, before it is given up on.
    assert!(
        began.elapsed() >= Duration::from_secs(3),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("crasher ended (exit 3) on every start"),
        "{stderr}"
    );
    assert!(stderr.contains("devrig logs crasher"), "{stderr}");
    assert!(stderr.contains("Running steady"), "{stderr}");

    let status = status(&world);
    let crasher = program(&status, "crasher");
    assert_eq!(crasher["state"], "fatal", "{status}");
    assert_eq!(crasher["restarts"], 2, "{status}");
    assert_eq!(crasher["last_exit"], "exit 3", "{status}");
    assert_eq!(program(&status, "steady")["state"], "running");

    let log = world.program_log(&project, "crasher");
    let booms = |log: &str| log.lines().filter(|l| *l == "boom").count();
    assert_eq!(booms(&log), 3, "{log}");
    assert!(log.contains("retrying in 1s (attempt 2 of 3)"), "{log}");
    assert!(log.contains("retrying in 2s (attempt 3 of 3)"), "{log}");
    assert!(log.contains("gave up"), "{log}");

    // `up` again starts a fatal program afresh.
    let (_, _, stderr) = run(&world, world.devrig_engine().arg("up"));
    assert!(stderr.contains("crasher ended (exit 3)"), "{stderr}");
    assert_eq!(booms(&world.program_log(&project, "crasher")), 6);
}

#[test]
fn a_program_that_crashes_after_starting_is_restarted_with_growing_delays() {
    require_testbed();
    let world = World::new();
    let project = unique_project("flaky");
    let _down = Down(&world);
    // Counts as started at once (startsecs 0), then dies: every exit is a
    // crash of a running program, restarted 1 s, 2 s, 4 s… later.
    world.config(&config(
        &project,
        &[],
        NO_CONTAINERS,
        &[(
            "flaky",
            "command: sh -c 'echo up; sleep 0.2; exit 1'\nstartsecs: 0",
        )],
    ));
    up(&world);
    wait_for("two restarts", Duration::from_secs(10), || {
        program(&status(&world), "flaky")["restarts"].as_u64() >= Some(2)
    });
    let log = world.program_log(&project, "flaky");
    assert!(
        log.contains("exited (exit 1) after 0.2s; restarting in 1s"),
        "{log}"
    );
    assert!(log.contains("restarting in 2s"), "{log}");
    // Crashes after a successful start never make a program fatal.
    let now = status(&world);
    assert_ne!(program(&now, "flaky")["state"], "fatal", "{now}");
}

#[test]
fn logs_are_captured_with_colors_rotated_by_size_and_followed() {
    require_testbed();
    let world = World::new();
    let project = unique_project("logs");
    let _down = Down(&world);
    world.config(&config(
        &project,
        &[],
        NO_CONTAINERS,
        &[(
            "chatty",
            "command: python3 chatty.py\nstdout_logfile_maxbytes: 4KB\nstdout_logfile_backups: 2",
        )],
    ));
    // 300 lines of 60 bytes (18 KB: more than the three files keep), then
    // one line every 100 ms.
    world.file(
        "chatty.py",
        "import os, sys, time\nprint('FORCE_COLOR=%s CLICOLOR_FORCE=%s' % (os.environ.get('FORCE_COLOR'), os.environ.get('CLICOLOR_FORCE')))\nfor i in range(300):\n    print('line %03d ' % i + 'x' * 50)\nsys.stdout.flush()\ni = 0\nwhile True:\n    time.sleep(0.1)\n    i += 1\n    print('tick %d' % i, flush=True)\n",
    );
    up(&world);
    let dir = world
        .root()
        .join(format!("home/.local/state/devrig/logs/{project}"));
    wait_for("rotated logs", Duration::from_secs(10), || {
        world.program_log(&project, "chatty").contains("tick")
    });
    for name in ["chatty.log", "chatty.log.1", "chatty.log.2"] {
        let size = std::fs::metadata(dir.join(name)).expect(name).len();
        assert!(size <= 4096, "{name} is {size} bytes");
    }
    assert!(!dir.join("chatty.log.3").exists());
    // The first lines rotated away; colors were forced on for the capture.
    let all = std::fs::read_to_string(dir.join("chatty.log.2")).unwrap()
        + &std::fs::read_to_string(dir.join("chatty.log.1")).unwrap();
    assert!(!all.contains("line 000"), "oldest lines are gone");
    assert!(all.contains("line 299") || world.program_log(&project, "chatty").contains("line 299"));

    let (code, stdout, stderr) = run(
        &world,
        world
            .devrig_engine()
            .args(["logs", "chatty", "--tail", "3"]),
    );
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines.iter().all(|l| l.starts_with("chatty | ")), "{stdout}");

    // Following: new ticks keep arriving until devrig is stopped.
    let mut follow = world
        .devrig_engine_std()
        .args(["logs", "chatty", "-f", "--tail", "1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("logs -f");
    std::thread::sleep(Duration::from_millis(1500));
    follow.kill().unwrap();
    let out = follow.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let ticks: Vec<u64> = text
        .lines()
        .filter_map(|l| l.split("tick ").nth(1)?.trim().parse().ok())
        .collect();
    assert!(ticks.len() >= 5, "{text}");
    assert!(ticks.windows(2).all(|w| w[1] == w[0] + 1), "{ticks:?}");
}

#[test]
fn forced_colors_reach_the_program() {
    require_testbed();
    let world = World::new();
    let project = unique_project("color");
    let _down = Down(&world);
    world.config(&config(
        &project,
        &[],
        NO_CONTAINERS,
        &[
            ("plain", "command: sh -c 'echo \"F=$FORCE_COLOR C=$CLICOLOR_FORCE P=$PYTHONUNBUFFERED\"; exec sleep 600'"),
            ("mono", "command: sh -c 'echo \"F=$FORCE_COLOR\"; exec sleep 600'\nenvironment:\n  NO_COLOR: \"1\""),
        ],
    ));
    up(&world);
    wait_for("output", Duration::from_secs(5), || {
        world.program_log(&project, "plain").contains("F=")
            && world.program_log(&project, "mono").contains("F=")
    });
    assert!(world.program_log(&project, "plain").contains("F=1 C=1 P=1"));
    assert!(
        world.program_log(&project, "mono").contains("F=\n"),
        "NO_COLOR wins"
    );
}

#[test]
fn programs_stop_when_the_supervisor_is_killed() {
    require_testbed();
    let world = World::new();
    let project = unique_project("orphan");
    let _down = Down(&world);
    let (lead, child) = (marker(3), marker(4));
    world.config(&config(
        &project,
        &[],
        NO_CONTAINERS,
        &[(
            "server",
            &format!("command: sh -c '(sleep {child} &); exec sleep {lead}'\nstopwaitsecs: 2"),
        )],
    ));
    up(&world);
    assert_eq!(processes_with(&format!("sleep {child}")).len(), 1);
    let pid = status(&world)["supervisor_pid"]
        .as_i64()
        .expect("a supervisor runs");
    // SAFETY: kill takes no pointers; the pid is the supervisor's.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
    wait_for(
        "the program and its child to go",
        Duration::from_secs(5),
        || {
            processes_with(&format!("sleep {lead}")).is_empty()
                && processes_with(&format!("sleep {child}")).is_empty()
        },
    );
    let after = status(&world);
    assert_eq!(after["supervisor_pid"], Value::Null, "{after}");
    // A new `up` brings them back under a new supervisor.
    up(&world);
    assert_eq!(processes_with(&format!("sleep {lead}")).len(), 1);
}

#[test]
fn stop_escalates_to_sigkill_for_the_whole_group_after_the_grace_period() {
    require_testbed();
    let world = World::new();
    let project = unique_project("stubborn");
    let _down = Down(&world);
    let (lead, child) = (marker(5), marker(6));
    // Everything in the group ignores SIGTERM.
    world.config(&config(
        &project,
        &[],
        NO_CONTAINERS,
        &[(
            "stubborn",
            &format!(
                "command: sh -c \"trap '' TERM; (sleep {child} &); exec sleep {lead}\"\nstop_grace_period: 1s"
            ),
        )],
    ));
    up(&world);
    let began = Instant::now();
    let (code, _, stderr) = run(&world, world.devrig_engine().arg("down"));
    assert_eq!(code, 0, "{stderr}");
    assert!(began.elapsed() >= Duration::from_secs(1));
    assert_eq!(
        processes_with(&format!("sleep {lead}")),
        Vec::<String>::new()
    );
    assert_eq!(
        processes_with(&format!("sleep {child}")),
        Vec::<String>::new()
    );
    assert!(
        world
            .program_log(&project, "stubborn")
            .contains("sending SIGKILL to its process group")
    );
}

#[test]
fn foreground_takes_a_program_over_and_hands_it_back() {
    require_testbed();
    let world = World::new();
    let project = unique_project("fg");
    let _down = Down(&world);
    let lead = marker(7);
    // Supervised, its output is a pipe and it keeps running; in the
    // foreground it has a terminal, says so and exits 7.
    world.config(&config(
        &project,
        &[],
        NO_CONTAINERS,
        &[
            (
                "worker",
                "command: sh worker.sh\nenvironment:\n  GREETING: hi",
            ),
            ("manual", "command: sh worker.sh\nautostart: false"),
        ],
    ));
    world.file(
        "worker.sh",
        &format!(
            "if [ -t 1 ]; then echo \"in a terminal: $GREETING\"; exit 7; fi\nexec sleep {lead}\n"
        ),
    );
    up(&world);
    let before = program(&status(&world), "worker")["pid"].clone();

    let (code, stdout, stderr) = run(&world, world.devrig_engine().args(["foreground", "worker"]));
    assert_eq!(code, 7, "{stdout}\n{stderr}");
    assert!(stdout.contains("in a terminal: hi"), "{stdout}");
    assert!(
        stderr.contains("Stopped worker in the supervisor"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Handed back worker to the supervisor"),
        "{stderr}"
    );

    wait_for(
        "the supervised worker to run again",
        Duration::from_secs(5),
        || program(&status(&world), "worker")["state"] == "running",
    );
    assert_ne!(program(&status(&world), "worker")["pid"], before);
    assert_eq!(processes_with(&format!("sleep {lead}")).len(), 1);

    // One that `up` does not start is run, then left stopped.
    assert_eq!(program(&status(&world), "manual")["state"], "stopped");
    let (code, _, stderr) = run(&world, world.devrig_engine().args(["foreground", "manual"]));
    assert_eq!(code, 7, "{stderr}");
    assert!(stderr.contains("Left manual stopped"), "{stderr}");
    assert_eq!(program(&status(&world), "manual")["state"], "stopped");

    let (code, _, stderr) = run(&world, world.devrig_engine().args(["foreground", "nope"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("programs: worker, manual"), "{stderr}");
}

#[test]
fn foreground_refuses_a_program_nothing_supervises() {
    let world = World::new();
    world.config(&config(
        "fg-none",
        &[],
        NO_CONTAINERS,
        &[("worker", "command: sleep 600")],
    ));
    let (code, _, stderr) = run(&world, world.devrig().args(["foreground", "worker"]));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("worker is not running under devrig's supervisor"),
        "{stderr}"
    );
    assert!(stderr.contains("devrig up"), "{stderr}");
}

/// `docker exec` redis-cli in a container, on the port the tests use.
fn redis(container: &str, args: &[&str]) -> String {
    let mut all = vec!["exec", container, "redis-cli", "-p", "7777"];
    all.extend(args);
    common::legacy::docker(&all)
}

#[test]
fn toggle_moves_a_running_dependency_to_its_checkout_and_back_keeping_its_data() {
    require_testbed();
    let world = World::new();
    let project = unique_project("app");
    let store = unique_project("store");
    let _cleanup = Cleanup(vec![project.clone(), store.clone()]);
    let _down = Down(&world);
    let lead = marker(8);
    let port = free_port();
    // The dependency: a redis with its data in a volume; run locally (its
    // default mode) it also has a program.
    let store_config = format!(
        "x-sentry-service-config:\n  version: 0.1\n  service_name: {store}\n  dependencies:\n    kv: {{description: kv}}\n    indexer: {{description: indexer}}\n  modes:\n    default: [kv, indexer]\n    containerized: [kv]\nx-programs:\n  indexer:\n    command: sleep {lead}\nservices:\n  kv:\n    image: redis:7\n    command: [redis-server, --port, \"7777\", --appendonly, \"yes\"]\n    ports: [\"127.0.0.1:{port}:7777\"]\n    volumes: [data:/data]\n    healthcheck:\n      test: redis-cli -p 7777 ping | grep -q PONG\n      interval: 30s\nvolumes:\n  data:\n"
    );
    world.remote_from("store", |w| {
        std::fs::create_dir_all(w.join("devservices")).expect("mkdir");
        std::fs::write(w.join("devservices/config.yml"), &store_config).expect("write");
    });
    // Its checkout beside the app's repo, as devenv lays repos out.
    common::legacy::git(
        world.root(),
        &[
            "clone",
            "-q",
            &world.root().join("work/store").display().to_string(),
            "store",
        ],
    );
    // A local edit: the checkout's kv differs from the remote's, so each
    // move recreates the container and only the volume carries the data.
    std::fs::write(
        world.root().join("store/devservices/config.yml"),
        store_config.replace(
            "    volumes: [data:/data]\n",
            "    volumes: [data:/data]\n    environment: {RUNNING_FROM: checkout}\n",
        ),
    )
    .expect("edit the checkout");
    world.config(&format!(
        "x-sentry-service-config:\n  version: 0.1\n  service_name: {project}\n  dependencies:\n    store:\n      description: the store\n      remote: {{repo_name: store, branch: main, repo_link: \"file://{{remotes}}/store.git\", mode: containerized}}\n  modes:\n    default: [store]\n"
    ));
    let kv = format!("{store}-kv-1");

    up(&world);
    assert_eq!(redis(&kv, &["set", "answer", "42"]), "OK");
    assert!(
        processes_with(&format!("sleep {lead}")).is_empty(),
        "containerized: no program"
    );

    // To local: its containers stop, and it starts from the checkout, its
    // program included, on the same volume.
    let (code, _, stderr) = run(&world, world.devrig_engine().args(["toggle", &store]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!("Toggled {store} to local")),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("Stopped {kv}")), "{stderr}");
    let env = || common::legacy::docker(&["inspect", "--format", "{{json .Config.Env}}", &kv]);
    assert!(
        env().contains("RUNNING_FROM=checkout"),
        "runs from the checkout"
    );
    assert_eq!(redis(&kv, &["get", "answer"]), "42");
    assert_eq!(processes_with(&format!("sleep {lead}")).len(), 1);
    let status = status(&world);
    assert_eq!(status["local"][0]["service"], store.as_str(), "{status}");
    assert_eq!(status["local"][0]["running"], true, "{status}");
    assert!(
        status["containers"].as_array().unwrap().is_empty(),
        "{status}"
    );

    // The choice persists: `up` again leaves it local.
    let stderr = up(&world);
    assert!(
        stderr.contains(&format!("{store} already runs from")),
        "{stderr}"
    );

    // Back to containers: the local run stops (program too), the app's
    // plan starts the containers again, data intact.
    let (code, _, stderr) = run(
        &world,
        world
            .devrig_engine()
            .args(["toggle", &store, "containerized"]),
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!("Toggled {store} to containerized")),
        "{stderr}"
    );
    assert!(
        processes_with(&format!("sleep {lead}")).is_empty(),
        "{stderr}"
    );
    assert_eq!(
        common::legacy::docker(&["inspect", "--format", "{{.State.Status}}", &kv]),
        "running"
    );
    assert!(
        !env().contains("RUNNING_FROM"),
        "runs from the remote's config again"
    );
    assert_eq!(redis(&kv, &["get", "answer"]), "42");
    let (code, _, stderr) = run(
        &world,
        world
            .devrig_engine()
            .args(["toggle", &store, "containerized"]),
    );
    assert_eq!(code, 0);
    assert!(stderr.contains("already runs containerized"), "{stderr}");

    // A service with no checkout around cannot go local.
    let (code, _, stderr) = run(
        &world,
        world.devrig_engine().args(["toggle", "nowhere", "local"]),
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("cannot find a checkout of nowhere"),
        "{stderr}"
    );
}

#[test]
fn a_program_that_narrows_its_dependencies_starts_before_unrelated_containers_are_ready() {
    require_testbed();
    let world = World::new();
    let project = unique_project("narrow");
    let _cleanup = Cleanup(vec![project.clone()]);
    let _down = Down(&world);
    let (fast_port, slow_port) = (free_port(), free_port());
    let redis = |port: u16, delay: &str| {
        format!(
            "    image: redis:7\n    command: [sh, -c, \"{delay}exec redis-server --port 7777 --protected-mode no --save ''\"]\n    ports: [\"127.0.0.1:{port}:7777\"]\n    healthcheck:\n      test: redis-cli -p 7777 ping | grep -q PONG\n      interval: 30s\n"
        )
    };
    let probe = |extra: &str| {
        format!("command: python3 probe.py\nenvironment:\n  SLOW_PORT: \"{slow_port}\"\n{extra}")
    };
    world.config(&config(
        &project,
        &["fast", "slow"],
        &format!(
            "  fast:\n{}  slow:\n{}",
            redis(fast_port, ""),
            redis(slow_port, "sleep 5; ")
        ),
        &[
            ("early", &probe("depends_on: [fast]")),
            ("late", &probe("")),
        ],
    ));
    // Says whether the slow redis answered when the program started (a
    // bare connect would not tell: docker-proxy accepts on the published
    // port before redis listens).
    world.file(
        "probe.py",
        "import os, socket, time\nup = False\ntry:\n    s = socket.create_connection(('127.0.0.1', int(os.environ['SLOW_PORT'])), timeout=1)\n    s.sendall(b'PING\\r\\n')\n    got = s.recv(16)\n    up = got.startswith(b'+PONG')\nexcept OSError as e:\n    got = e\nprint('slow was up' if up else 'slow was not up', got, flush=True)\ntime.sleep(600)\n",
    );
    let (code, stdout, _) = run(&world, world.devrig().args(["config", "--json"]));
    assert_eq!(code, 0);
    let plan: Value = serde_json::from_str(&stdout).unwrap();
    let order = plan["start_order"].to_string();
    assert!(
        order.find("/early").unwrap() < order.find("/late").unwrap(),
        "{order}"
    );

    let stderr = up(&world);
    assert!(stderr.contains("Running early"), "{stderr}");
    wait_for("both probes", Duration::from_secs(10), || {
        world.program_log(&project, "early").contains("slow was")
            && world.program_log(&project, "late").contains("slow was")
    });
    let (early, late) = (
        world.program_log(&project, "early"),
        world.program_log(&project, "late"),
    );
    assert!(early.contains("slow was not up"), "{early}");
    assert!(late.contains("slow was up"), "{late}");
}

#[test]
fn a_program_may_only_wait_for_container_dependencies() {
    let world = World::new();
    world.config(&config(
        "narrow-bad",
        &[],
        NO_CONTAINERS,
        &[
            ("a", "command: sleep 1\ndepends_on: [b]"),
            ("b", "command: sleep 1"),
        ],
    ));
    let (code, _, stderr) = run(&world, world.devrig().arg("config"));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("program `a` depends on `b`, which is not a container dependency"),
        "{stderr}"
    );
    assert!(stderr.contains("config.yml:"), "{stderr}");
}

#[test]
fn serve_takes_over_a_supervised_dev_server_and_hands_it_back() {
    require_testbed();
    let world = World::new();
    let project = unique_project("serve");
    let _down = Down(&world);
    let lead = marker(9);
    // Supervised it sleeps; served (on a terminal) it prints its arguments
    // and exits 3.
    world.config(&config(
        &project,
        &[],
        NO_CONTAINERS,
        &[("devserver", "command: sh devserver.sh")],
    ));
    world.file(
        "devserver.sh",
        &format!("if [ -t 1 ]; then echo \"serving with $*\"; exit 3; fi\nexec sleep {lead}\n"),
    );
    up(&world);
    assert_eq!(processes_with(&format!("sleep {lead}")).len(), 1);

    let (code, stdout, stderr) = run(&world, world.devrig_engine().args(["serve", "--noreload"]));
    assert_eq!(code, 3, "{stdout}\n{stderr}");
    assert!(stdout.contains("serving with --noreload"), "{stdout}");
    assert!(
        stderr.contains("Stopped devserver in the supervisor"),
        "{stderr}"
    );
    assert!(stderr.contains("Handed back devserver"), "{stderr}");
    wait_for("the supervised dev server", Duration::from_secs(5), || {
        processes_with(&format!("sleep {lead}")).len() == 1
    });
}

#[test]
fn up_restarts_a_program_whose_command_changed_and_leaves_the_others_alone() {
    require_testbed();
    let world = World::new();
    let project = unique_project("change");
    let _down = Down(&world);
    let (old, new, other) = (marker(10), marker(11), marker(12));
    let write = |command: &str| {
        world.config(&config(
            &project,
            &[],
            NO_CONTAINERS,
            &[
                ("worker", &format!("command: {command}")),
                ("other", &format!("command: sleep {other}")),
            ],
        ));
    };
    write(&format!("sleep {old}"));
    up(&world);
    let before = status(&world);

    write(&format!("sleep {new}"));
    let stderr = up(&world);
    assert!(stderr.contains("Running worker"), "{stderr}");
    assert!(processes_with(&format!("sleep {old}")).is_empty());
    assert_eq!(processes_with(&format!("sleep {new}")).len(), 1);
    let after = status(&world);
    assert_ne!(
        program(&after, "worker")["pid"],
        program(&before, "worker")["pid"]
    );
    assert_eq!(
        program(&after, "other")["pid"],
        program(&before, "other")["pid"]
    );
    assert!(
        world
            .program_log(&project, "worker")
            .contains("changed: restarting")
    );
}

#[test]
fn sigterm_to_the_supervisor_stops_its_programs_and_it() {
    require_testbed();
    let world = World::new();
    let project = unique_project("term");
    let _down = Down(&world);
    let lead = marker(13);
    world.config(&config(
        &project,
        &[],
        NO_CONTAINERS,
        &[("server", &format!("command: sleep {lead}"))],
    ));
    up(&world);
    let pid = supervisor_pid(&world);
    // SAFETY: kill takes no pointers; the pid is the supervisor's.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGTERM) }, 0);
    wait_for("the supervisor to finish", Duration::from_secs(5), || {
        status(&world)["supervisor_pid"].is_null()
    });
    assert!(processes_with(&format!("sleep {lead}")).is_empty());
    assert!(
        world
            .program_log(&project, "server")
            .contains("stopped (signal 15)")
    );
    assert!(
        !world
            .root()
            .join(format!("run/devrig/{project}.sock"))
            .exists(),
        "the socket is removed"
    );
}

#[test]
fn up_right_after_down_gets_a_new_supervisor_every_time() {
    require_testbed();
    let world = World::new();
    let project = unique_project("again");
    let _down = Down(&world);
    let lead = marker(14);
    world.config(&config(
        &project,
        &[],
        NO_CONTAINERS,
        &[("server", &format!("command: sleep {lead}\nstartsecs: 0"))],
    ));
    let mut supervisors = Vec::new();
    for round in 0..4 {
        let (code, _, stderr) = run(&world, world.devrig_engine().arg("up"));
        assert_eq!(code, 0, "round {round}: {stderr}");
        supervisors.push(
            status(&world)["supervisor_pid"]
                .as_i64()
                .expect("a supervisor"),
        );
        assert_eq!(
            processes_with(&format!("sleep {lead}")).len(),
            1,
            "round {round}"
        );
        let (code, _, stderr) = run(&world, world.devrig_engine().arg("down"));
        assert_eq!(code, 0, "round {round}: {stderr}");
    }
    supervisors.dedup();
    assert_eq!(supervisors.len(), 4, "{supervisors:?}");
    assert!(processes_with(&format!("sleep {lead}")).is_empty());
}

#[test]
fn a_program_port_held_by_another_process_stops_up_before_anything_starts() {
    require_testbed();
    let world = World::new();
    let project = unique_project("busy");
    let _down = Down(&world);
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().unwrap().port();
    world.config(&config(
        &project,
        &[],
        NO_CONTAINERS,
        &[(
            "web",
            &format!("command: python3 -m http.server {port} --bind 127.0.0.1\nports: [\"127.0.0.1:{port}\"]"),
        )],
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
    assert!(stderr.contains("config.yml:"), "names the line: {stderr}");
    assert!(
        status(&world)["supervisor_pid"].is_null(),
        "nothing started"
    );

    // Free, it starts; running, a second `up` does not trip over its own port.
    drop(holder);
    up(&world);
    up(&world);
}

/// Processes whose parent is `parent`, from /proc.
fn children_of(parent: i64) -> Vec<i64> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i64>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let ppid = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().nth(1))
            .and_then(|p| p.parse::<i64>().ok());
        if ppid == Some(parent) {
            found.push(pid);
        }
    }
    found
}

#[test]
fn a_program_leader_stops_even_when_the_supervisor_and_its_guardian_are_killed() {
    require_testbed();
    let world = World::new();
    let project = unique_project("both");
    let _down = Down(&world);
    let lead = marker(15);
    world.config(&config(
        &project,
        &[],
        NO_CONTAINERS,
        &[("server", &format!("command: sleep {lead}"))],
    ));
    up(&world);
    let supervisor = supervisor_pid(&world);
    let guardian = children_of(supervisor)
        .into_iter()
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("__guard"))
        })
        .expect("the guardian");
    // SAFETY: kill takes no pointers; both pids were just read.
    unsafe {
        assert_eq!(libc::kill(guardian as i32, libc::SIGKILL), 0);
        assert_eq!(libc::kill(supervisor as i32, libc::SIGKILL), 0);
    }
    wait_for("the program to go", Duration::from_secs(5), || {
        processes_with(&format!("sleep {lead}")).is_empty()
    });
}

#[test]
fn the_supervisor_takes_a_program_back_when_its_foreground_run_is_killed() {
    require_testbed();
    let world = World::new();
    let project = unique_project("fgkill");
    let _down = Down(&world);
    let lead = marker(16);
    world.config(&config(
        &project,
        &[],
        NO_CONTAINERS,
        &[("looper", &format!("command: sleep {lead}"))],
    ));
    up(&world);
    let mut foreground = world
        .devrig_engine_std()
        .args(["foreground", "looper"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("devrig foreground");
    wait_for("the hand-over", Duration::from_secs(5), || {
        program(&status(&world), "looper")["state"] == "foreground"
    });
    // devrig dies without handing it back; its terminal closes, which
    // ends the foreground run, and the supervisor notices its holder gone.
    foreground.kill().expect("kill -9");
    foreground.wait().expect("reaped");
    wait_for(
        "the supervisor to take it back",
        Duration::from_secs(5),
        || program(&status(&world), "looper")["state"] == "running",
    );
    assert!(
        world
            .program_log(&project, "looper")
            .contains("without handing it back")
    );
    wait_for("one copy running", Duration::from_secs(5), || {
        processes_with(&format!("sleep {lead}")).len() == 1
    });
}
