//! Supervised programs (`x-programs`) as real processes: start order after
//! a healthy container, restarts with backoff and `fatal`, captured and
//! rotated logs, `status`, `down` leaving nothing behind (also after the
//! supervisor is killed with SIGKILL), and `foreground` hand-off.

mod common;

use common::{
    World, container_state, devservices_config, docker, formatdoc, git, guardian_of, indoc, kill,
    marker, program, programs_only, sleeping, supervisor_pid, uses_one_remote, wait_for, write,
};
use serde_json::Value;
use std::time::Duration;

/// An engine world whose one program `name` is `sleep <marker>`, brought
/// up; and the marker.
fn up_sleeping(prefix: &str, name: &str) -> (World, String) {
    let world = World::engine(prefix);
    let lead = marker();
    world.config(&programs_only(
        world.project(),
        &formatdoc! {"
            {name}:
              command: sleep {lead}
        "},
    ));
    world.devrig().arg("up").run();
    (world, lead)
}

#[test]
fn programs_start_after_a_healthy_container_and_down_leaves_no_process() {
    let world = World::engine("prog");
    let project = world.project();
    let port = world.port();
    let (lead, child) = (marker(), marker());
    // The worker asks redis for PONG the moment it starts: it only gets one
    // if the container was ready first. It leaves a background child in its
    // process group, which `down` must take too.
    world.config(&devservices_config(
        project,
        &formatdoc! {r#"
        x-programs:
          worker:
            command: sh -c 'python3 ping.py && (sleep {child} &) && exec sleep {lead}'
            environment:
              REDIS_PORT: "{port}"
            stopwaitsecs: 5
        services:
          db:
            image: redis:7
            command: [redis-server, --port, "7777", --save, ""]
            ports: ["127.0.0.1:{port}:7777"]
            healthcheck:
              test: redis-cli -p 7777 ping | grep -q PONG
              interval: 30s
    "#},
    ));
    world.file(
        "ping.py",
        indoc! {r"
            import os, socket
            s = socket.create_connection(('127.0.0.1', int(os.environ['REDIS_PORT'])))
            s.sendall(b'PING\r\n')
            print('redis says', s.recv(16).decode().strip(), 'color', os.environ.get('FORCE_COLOR'))
        "},
    );

    let up = world.devrig().arg("up").run();
    assert!(
        up.stderr_at(&format!("Ready {project}-db-1")) < up.stderr_at("Running worker"),
        "{}",
        up.stderr
    );
    wait_for("the worker's output", Duration::from_secs(10), || {
        world
            .program_log("worker")
            .contains("redis says +PONG color 1")
    });

    let status = world.status();
    assert_eq!(status["containers"][0]["state"], "running", "{status}");
    let worker = program(&status, "worker");
    assert_eq!(worker["state"], "running", "{status}");
    assert!(worker["pid"].as_i64().is_some(), "{status}");
    assert_eq!(sleeping(&lead).len(), 1);
    assert_eq!(sleeping(&child).len(), 1);

    // Human output: the container and the program side by side.
    let table = world
        .devrig()
        .arg("status")
        .stdout_contains(format!("{project}-db-1"))
        .run()
        .stdout;
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("worker") && l.contains("running") && l.contains("pid")),
        "{table}"
    );

    // `logs` without names: the container's and the program's lines, each
    // with its prefix.
    let logs = world.devrig().args(["logs", "--tail", "5"]).run().stdout;
    assert!(
        logs.lines()
            .any(|l| l.starts_with(&format!("{project}-db-1 |"))),
        "{logs}"
    );
    assert!(
        logs.lines().any(|l| l.contains("| redis says +PONG")),
        "{logs}"
    );

    let down = world.devrig().arg("down").run();
    assert!(
        down.stderr_at("Stopped worker") < down.stderr_at(&format!("{project}-db-1")),
        "programs go first:\n{}",
        down.stderr
    );
    assert_eq!(sleeping(&lead), Vec::<String>::new());
    assert_eq!(sleeping(&child), Vec::<String>::new());
    let after = world.status();
    assert_eq!(after["supervisor_pid"], Value::Null, "{after}");
    assert_eq!(program(&after, "worker")["state"], "stopped");
}

#[test]
fn a_crashing_program_is_restarted_with_backoff_then_marked_fatal() {
    let world = World::engine("crash");
    world.config(&programs_only(
        world.project(),
        indoc! {"
            crasher:
              command: sh -c 'echo boom; exit 3'
              startretries: 2
            steady:
              command: sleep 600
        "},
    ));
    world
        .devrig()
        .arg("up")
        .code(1)
        .stderr_contains("crasher ended (exit 3) on every start")
        .stderr_contains("devrig logs crasher")
        .stderr_contains("Running steady")
        .run();

    let status = world.status();
    let crasher = program(&status, "crasher");
    assert_eq!(crasher["state"], "fatal", "{status}");
    assert_eq!(crasher["restarts"], 2, "{status}");
    assert_eq!(crasher["last_exit"], "exit 3", "{status}");
    assert_eq!(program(&status, "steady")["state"], "running");

    // Three starts, 1 s then 2 s apart, before it is given up on.
    let log = world.program_log("crasher");
    let booms = |log: &str| log.lines().filter(|l| *l == "boom").count();
    assert_eq!(booms(&log), 3, "{log}");
    assert!(log.contains("retrying in 1s (attempt 2 of 3)"), "{log}");
    assert!(log.contains("retrying in 2s (attempt 3 of 3)"), "{log}");
    assert!(log.contains("gave up"), "{log}");

    // `up` again starts a fatal program afresh.
    world
        .devrig()
        .arg("up")
        .any_code()
        .stderr_contains("crasher ended (exit 3)")
        .run();
    assert_eq!(booms(&world.program_log("crasher")), 6);
}

#[test]
fn a_program_that_crashes_after_starting_is_restarted_with_growing_delays() {
    let world = World::engine("flaky");
    // Counts as started at once (startsecs 0), then dies: every exit is a
    // crash of a running program, restarted 1 s, 2 s, 4 s… later.
    world.config(&programs_only(
        world.project(),
        indoc! {"
            flaky:
              command: sh -c 'echo up; sleep 0.2; exit 1'
              startsecs: 0
        "},
    ));
    world.devrig().arg("up").run();
    wait_for("two restarts", Duration::from_secs(10), || {
        program(&world.status(), "flaky")["restarts"].as_u64() >= Some(2)
    });
    let log = world.program_log("flaky");
    assert!(
        log.contains("exited (exit 1) after 0.2s; restarting in 1s"),
        "{log}"
    );
    assert!(log.contains("restarting in 2s"), "{log}");
    // Crashes after a successful start never make a program fatal.
    let now = world.status();
    assert_ne!(program(&now, "flaky")["state"], "fatal", "{now}");
}

#[test]
fn logs_are_captured_with_colors_rotated_by_size_and_followed() {
    let world = World::engine("logs");
    world.config(&programs_only(
        world.project(),
        indoc! {"
            chatty:
              command: python3 chatty.py
              stdout_logfile_maxbytes: 4KB
              stdout_logfile_backups: 2
        "},
    ));
    // 300 lines of 60 bytes (18 KB: more than the three files keep), then
    // one line every 100 ms.
    world.file(
        "chatty.py",
        indoc! {"
            import os, sys, time
            print('FORCE_COLOR=%s CLICOLOR_FORCE=%s' % (os.environ.get('FORCE_COLOR'), os.environ.get('CLICOLOR_FORCE')))
            for i in range(300):
                print('line %03d ' % i + 'x' * 50)
            sys.stdout.flush()
            i = 0
            while True:
                time.sleep(0.1)
                i += 1
                print('tick %d' % i, flush=True)
        "},
    );
    world.devrig().arg("up").run();
    let dir = world.log_dir();
    wait_for("rotated logs", Duration::from_secs(10), || {
        world.program_log("chatty").contains("tick")
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
    assert!(all.contains("line 299") || world.program_log("chatty").contains("line 299"));

    let tail = world
        .devrig()
        .args(["logs", "chatty", "--tail", "3"])
        .run()
        .stdout;
    let lines: Vec<&str> = tail.lines().collect();
    assert_eq!(lines.len(), 3, "{tail}");
    assert!(lines.iter().all(|l| l.starts_with("chatty | ")), "{tail}");

    // Following: new ticks keep arriving until devrig is stopped.
    let ticks = |text: &str| -> Vec<u64> {
        text.lines()
            .filter_map(|l| l.split("tick ").nth(1)?.trim().parse().ok())
            .collect()
    };
    let follow = world.spawn(["logs", "chatty", "-f", "--tail", "1"]);
    follow.wait_for_stdout("five ticks", |out| ticks(out).len() >= 5);
    let (text, _) = follow.kill();
    let ticks = ticks(&text);
    assert!(ticks.windows(2).all(|w| w[1] == w[0] + 1), "{ticks:?}");
}

#[test]
fn forced_colors_reach_the_program() {
    let world = World::engine("color");
    world.config(&programs_only(
        world.project(),
        indoc! {r#"
            plain:
              command: sh -c 'echo "F=$FORCE_COLOR C=$CLICOLOR_FORCE P=$PYTHONUNBUFFERED"; exec sleep 600'
            mono:
              command: sh -c 'echo "F=$FORCE_COLOR"; exec sleep 600'
              environment:
                NO_COLOR: "1"
        "#},
    ));
    world.devrig().arg("up").run();
    wait_for("output", Duration::from_secs(5), || {
        world.program_log("plain").contains("F=") && world.program_log("mono").contains("F=")
    });
    assert!(world.program_log("plain").contains("F=1 C=1 P=1"));
    assert!(world.program_log("mono").contains("F=\n"), "NO_COLOR wins");
}

#[test]
fn programs_stop_when_the_supervisor_is_killed() {
    let world = World::engine("orphan");
    let (lead, child) = (marker(), marker());
    world.config(&programs_only(
        world.project(),
        &formatdoc! {"
            server:
              command: sh -c '(sleep {child} &); exec sleep {lead}'
              stopwaitsecs: 2
        "},
    ));
    world.devrig().arg("up").run();
    assert_eq!(sleeping(&child).len(), 1);
    kill(supervisor_pid(&world), libc::SIGKILL);
    wait_for(
        "the program and its child to go",
        Duration::from_secs(5),
        || sleeping(&lead).is_empty() && sleeping(&child).is_empty(),
    );
    let after = world.status();
    assert_eq!(after["supervisor_pid"], Value::Null, "{after}");
    // A new `up` brings them back under a new supervisor.
    world.devrig().arg("up").run();
    assert_eq!(sleeping(&lead).len(), 1);
}

/// Started from a shell that has the variable the command uses, the
/// program is looked at and stopped from one that does not: only starting
/// needs it (the `up` that lacks it: tests/config_errors.rs).
#[test]
fn down_status_and_logs_do_not_need_a_variable_only_a_command_uses() {
    let world = World::engine("unsetvar");
    let lead = marker();
    world.config(&programs_only(
        world.project(),
        indoc! {"
            worker:
              command: sh -c 'echo started; exec sleep %(ENV_DEVRIG_TEST_SLEEP)s'
        "},
    ));
    world
        .devrig()
        .env("DEVRIG_TEST_SLEEP", &lead)
        .arg("up")
        .run();
    assert_eq!(sleeping(&lead).len(), 1);

    assert_eq!(program(&world.status(), "worker")["state"], "running");
    wait_for("the worker's output", Duration::from_secs(10), || {
        world.program_log("worker").contains("started")
    });
    world
        .devrig()
        .args(["logs", "worker", "--tail", "1"])
        .stdout_contains("started")
        .run();
    world
        .devrig()
        .arg("down")
        .stderr_contains("Stopped worker")
        .run();
    assert_eq!(sleeping(&lead), Vec::<String>::new());
}

#[test]
fn stop_escalates_to_sigkill_for_the_whole_group_after_the_grace_period() {
    let world = World::engine("stubborn");
    let (lead, child) = (marker(), marker());
    // Everything in the group ignores SIGTERM.
    world.config(&programs_only(
        world.project(),
        &formatdoc! {r#"
            stubborn:
              command: sh -c "trap '' TERM; (sleep {child} &); exec sleep {lead}"
              stop_grace_period: 1s
        "#},
    ));
    world.devrig().arg("up").run();
    world.devrig().arg("down").run();
    assert_eq!(sleeping(&lead), Vec::<String>::new());
    assert_eq!(sleeping(&child), Vec::<String>::new());
    // After the whole grace period, not before.
    assert!(
        world.program_log("stubborn").contains(
            "still running 1000ms after the stop signal: sending SIGKILL to its process group"
        ),
        "{}",
        world.program_log("stubborn")
    );
}

#[test]
fn foreground_takes_a_program_over_and_hands_it_back() {
    let world = World::engine("fg");
    let lead = marker();
    // Supervised, its output is a pipe and it keeps running; in the
    // foreground it has a terminal, says so and exits 7.
    world.config(&programs_only(
        world.project(),
        indoc! {"
            worker:
              command: sh worker.sh
              environment:
                GREETING: hi
            manual:
              command: sh worker.sh
              autostart: false
        "},
    ));
    world.file(
        "worker.sh",
        &formatdoc! {r#"
            if [ -t 1 ]; then echo "in a terminal: $GREETING"; exit 7; fi
            exec sleep {lead}
        "#},
    );
    world.devrig().arg("up").run();
    let before = program(&world.status(), "worker")["pid"].clone();

    world
        .devrig()
        .args(["foreground", "worker"])
        .code(7)
        .stdout_contains("in a terminal: hi")
        .stderr_contains("Stopped worker in the supervisor")
        .stderr_contains("Handed back worker to the supervisor")
        .run();

    wait_for(
        "the supervised worker to run again",
        Duration::from_secs(5),
        || program(&world.status(), "worker")["state"] == "running",
    );
    assert_ne!(program(&world.status(), "worker")["pid"], before);
    assert_eq!(sleeping(&lead).len(), 1);

    // One that `up` does not start is run, then left stopped.
    assert_eq!(program(&world.status(), "manual")["state"], "stopped");
    world
        .devrig()
        .args(["foreground", "manual"])
        .code(7)
        .stderr_contains("Left manual stopped")
        .run();
    assert_eq!(program(&world.status(), "manual")["state"], "stopped");

    world
        .devrig()
        .args(["foreground", "nope"])
        .code(2)
        .stderr_contains("programs: worker, manual")
        .run();
}

#[test]
fn foreground_refuses_a_program_nothing_supervises() {
    let world = World::new();
    world.config(&programs_only(
        "fg-none",
        indoc! {"
            worker:
              command: sleep 600
        "},
    ));
    world
        .devrig()
        .args(["foreground", "worker"])
        .code(1)
        .stderr_contains("worker is not running under devrig's supervisor")
        .stderr_contains("devrig up")
        .run();
}

/// `docker exec` redis-cli in a container, on the port the tests use.
fn redis(container: &str, args: &[&str]) -> String {
    let mut all = vec!["exec", container, "redis-cli", "-p", "7777"];
    all.extend(args);
    docker(&all)
}

#[test]
fn toggle_moves_a_running_dependency_to_its_checkout_and_back_keeping_its_data() {
    let world = World::engine("app");
    let project = world.project();
    let store = world.other_project("store");
    let lead = marker();
    let port = world.port();
    // The dependency: a redis with its data in a volume; run locally (its
    // default mode) it also has a program.
    let store_config = formatdoc! {r#"
        x-sentry-service-config:
          version: 0.1
          service_name: {store}
          dependencies:
            kv: {{description: kv}}
            indexer: {{description: indexer}}
          modes:
            default: [kv, indexer]
            containerized: [kv]
        x-programs:
          indexer:
            command: sleep {lead}
        services:
          kv:
            image: redis:7
            command: [redis-server, --port, "7777", --appendonly, "yes"]
            ports: ["127.0.0.1:{port}:7777"]
            volumes: [data:/data]
            healthcheck:
              test: redis-cli -p 7777 ping | grep -q PONG
              interval: 30s
        volumes:
          data:
    "#};
    world.remote_config("store", &store_config);
    // Its checkout beside the app's repo, as devenv lays repos out.
    git(
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
    write(
        &world.root().join("store/devservices/config.yml"),
        &store_config.replace(
            "    volumes: [data:/data]\n",
            "    volumes: [data:/data]\n    environment: {RUNNING_FROM: checkout}\n",
        ),
    );
    world.config(&uses_one_remote(project, "store", "containerized"));
    let kv = format!("{store}-kv-1");

    world.devrig().arg("up").run();
    assert_eq!(redis(&kv, &["set", "answer", "42"]), "OK");
    assert!(sleeping(&lead).is_empty(), "containerized: no program");

    // To local: its containers stop, and it starts from the checkout, its
    // program included, on the same volume.
    let toggled = world
        .devrig()
        .args(["toggle", &store, "-v"])
        .stderr_contains(format!("Toggled {store} to local"))
        .stderr_contains(format!("Stopped {kv}"))
        .run();
    assert_eq!(engine_connections(&toggled.stderr), 1, "{}", toggled.stderr);
    let env = || docker(&["inspect", "--format", "{{json .Config.Env}}", &kv]);
    assert!(
        env().contains("RUNNING_FROM=checkout"),
        "runs from the checkout"
    );
    assert_eq!(redis(&kv, &["get", "answer"]), "42");
    assert_eq!(sleeping(&lead).len(), 1);
    let status = world.status();
    assert_eq!(status["local"][0]["service"], store.as_str(), "{status}");
    assert_eq!(status["local"][0]["running"], true, "{status}");
    assert!(
        status["containers"].as_array().unwrap().is_empty(),
        "{status}"
    );

    // The choice persists: `up` again leaves it local.
    world
        .devrig()
        .arg("up")
        .stderr_contains(format!("{store} already runs from"))
        .run();

    // Back to containers: the local run stops (program too), the app's
    // plan starts the containers again, data intact.
    let toggled = world
        .devrig()
        .args(["toggle", &store, "containerized", "-v"])
        .stderr_contains(format!("Toggled {store} to containerized"))
        .run();
    assert_eq!(engine_connections(&toggled.stderr), 1, "{}", toggled.stderr);
    assert!(sleeping(&lead).is_empty());
    assert_eq!(container_state(&kv), "running");
    assert!(
        !env().contains("RUNNING_FROM"),
        "runs from the remote's config again"
    );
    assert_eq!(redis(&kv, &["get", "answer"]), "42");
    world
        .devrig()
        .args(["toggle", &store, "containerized"])
        .stderr_contains("already runs containerized")
        .run();

    // A service with no checkout around cannot go local.
    world
        .devrig()
        .args(["toggle", "nowhere", "local"])
        .code(2)
        .stderr_contains("cannot find a checkout of nowhere")
        .run();
}

/// How often `-v` output says devrig connected to the engine: one
/// operation made of several (`toggle` = stops and `up`s) connects once.
fn engine_connections(stderr: &str) -> usize {
    stderr
        .lines()
        .filter(|l| l.starts_with("engine ") && l.contains(" via "))
        .count()
}

#[test]
fn a_program_that_narrows_its_dependencies_starts_before_unrelated_containers_are_ready() {
    let world = World::engine("narrow");
    let project = world.project();
    let (fast_port, slow_port) = (world.port(), world.port());
    world.config(&devservices_config(project, &formatdoc! {r#"
        x-programs:
          early:
            command: python3 probe.py
            environment:
              SLOW_PORT: "{slow_port}"
            depends_on: [fast]
          late:
            command: python3 probe.py
            environment:
              SLOW_PORT: "{slow_port}"
        services:
          fast:
            image: redis:7
            command: [sh, -c, "exec redis-server --port 7777 --protected-mode no --save ''"]
            ports: ["127.0.0.1:{fast_port}:7777"]
            healthcheck:
              test: redis-cli -p 7777 ping | grep -q PONG
              interval: 30s
          slow:
            image: redis:7
            command: [sh, -c, "sleep 5; exec redis-server --port 7777 --protected-mode no --save ''"]
            ports: ["127.0.0.1:{slow_port}:7777"]
            healthcheck:
              test: redis-cli -p 7777 ping | grep -q PONG
              interval: 30s
    "#}));
    // Says whether the slow redis answered when the program started (a
    // bare connect would not tell: docker-proxy accepts on the published
    // port before redis listens).
    world.file(
        "probe.py",
        indoc! {r"
            import os, socket, time
            up = False
            try:
                s = socket.create_connection(('127.0.0.1', int(os.environ['SLOW_PORT'])), timeout=1)
                s.sendall(b'PING\r\n')
                got = s.recv(16)
                up = got.startswith(b'+PONG')
            except OSError as e:
                got = e
            print('slow was up' if up else 'slow was not up', got, flush=True)
            time.sleep(600)
        "},
    );
    let plan = world.devrig().args(["config", "--json"]).run().json();
    let order = plan["start_order"].to_string();
    assert!(
        order.find("/early").unwrap() < order.find("/late").unwrap(),
        "{order}"
    );

    world
        .devrig()
        .arg("up")
        .stderr_contains("Running early")
        .run();
    wait_for("both probes", Duration::from_secs(10), || {
        world.program_log("early").contains("slow was")
            && world.program_log("late").contains("slow was")
    });
    let (early, late) = (world.program_log("early"), world.program_log("late"));
    assert!(early.contains("slow was not up"), "{early}");
    assert!(late.contains("slow was up"), "{late}");
}

#[test]
fn a_program_may_only_wait_for_container_dependencies() {
    let world = World::new();
    world.config(&programs_only(
        "narrow-bad",
        indoc! {"
            a:
              command: sleep 1
              depends_on: [b]
            b:
              command: sleep 1
        "},
    ));
    world
        .devrig()
        .arg("config")
        .code(2)
        .stderr_contains("program `a` depends on `b`, which is not a container dependency")
        .stderr_contains("config.yml:")
        .run();
}

#[test]
fn serve_takes_over_a_supervised_dev_server_and_hands_it_back() {
    let world = World::engine("serve");
    let lead = marker();
    // Supervised it sleeps; served (on a terminal) it prints its arguments
    // and exits 3.
    world.config(&programs_only(
        world.project(),
        indoc! {"
            devserver:
              command: sh devserver.sh
        "},
    ));
    world.file(
        "devserver.sh",
        &formatdoc! {r#"
            if [ -t 1 ]; then echo "serving with $*"; exit 3; fi
            exec sleep {lead}
        "#},
    );
    world.devrig().arg("up").run();
    assert_eq!(sleeping(&lead).len(), 1);

    world
        .devrig()
        .args(["serve", "--noreload"])
        .code(3)
        .stdout_contains("serving with --noreload")
        .stderr_contains("Stopped devserver in the supervisor")
        .stderr_contains("Handed back devserver")
        .run();
    wait_for("the supervised dev server", Duration::from_secs(5), || {
        sleeping(&lead).len() == 1
    });
}

#[test]
fn up_restarts_a_program_whose_command_changed_and_leaves_the_others_alone() {
    let world = World::engine("change");
    let (old, new, other) = (marker(), marker(), marker());
    let config = |worker: &str| {
        programs_only(
            world.project(),
            &formatdoc! {"
                worker:
                  command: sleep {worker}
                other:
                  command: sleep {other}
            "},
        )
    };
    world.config(&config(&old));
    world.devrig().arg("up").run();
    let before = world.status();

    world.config(&config(&new));
    world
        .devrig()
        .arg("up")
        .stderr_contains("Running worker")
        .run();
    assert!(sleeping(&old).is_empty());
    assert_eq!(sleeping(&new).len(), 1);
    let after = world.status();
    assert_ne!(
        program(&after, "worker")["pid"],
        program(&before, "worker")["pid"]
    );
    assert_eq!(
        program(&after, "other")["pid"],
        program(&before, "other")["pid"]
    );
    assert!(world.program_log("worker").contains("changed: restarting"));
}

#[test]
fn sigterm_to_the_supervisor_stops_its_programs_and_it() {
    let (world, lead) = up_sleeping("term", "server");
    kill(supervisor_pid(&world), libc::SIGTERM);
    wait_for("the supervisor to finish", Duration::from_secs(5), || {
        world.status()["supervisor_pid"].is_null()
    });
    assert!(sleeping(&lead).is_empty());
    assert!(world.program_log("server").contains("stopped (signal 15)"));
    assert!(
        !world
            .root()
            .join(format!("run/devrig/{}.sock", world.project()))
            .exists(),
        "the socket is removed"
    );
}

#[test]
fn up_right_after_down_gets_a_new_supervisor_every_time() {
    let world = World::engine("again");
    let lead = marker();
    world.config(&programs_only(
        world.project(),
        &formatdoc! {"
            server:
              command: sleep {lead}
              startsecs: 0
        "},
    ));
    let mut supervisors = Vec::new();
    for round in 0..4 {
        world.devrig().arg("up").run();
        supervisors.push(supervisor_pid(&world));
        assert_eq!(sleeping(&lead).len(), 1, "round {round}");
        world.devrig().arg("down").run();
    }
    supervisors.dedup();
    assert_eq!(supervisors.len(), 4, "{supervisors:?}");
    assert!(sleeping(&lead).is_empty());
}

#[test]
fn a_program_port_held_by_another_process_stops_up_before_anything_starts() {
    let world = World::engine("busy");
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().unwrap().port();
    world.config(&programs_only(
        world.project(),
        &formatdoc! {r#"
            web:
              command: python3 -m http.server {port} --bind 127.0.0.1
              ports: ["127.0.0.1:{port}"]
        "#},
    ));
    world
        .devrig()
        .arg("up")
        .code(1)
        .stderr_contains(format!(
            "port 127.0.0.1:{port}/tcp is already in use by process {}",
            std::process::id()
        ))
        // It names the line.
        .stderr_contains("config.yml:")
        .run();
    assert!(
        world.status()["supervisor_pid"].is_null(),
        "nothing started"
    );

    // Free, it starts; running, a second `up` does not trip over its own port.
    drop(holder);
    world.devrig().arg("up").run();
    world.devrig().arg("up").run();
}

#[test]
fn a_program_leader_stops_even_when_the_supervisor_and_its_guardian_are_killed() {
    let (world, lead) = up_sleeping("both", "server");
    let supervisor = supervisor_pid(&world);
    let guardian = guardian_of(supervisor);
    kill(guardian, libc::SIGKILL);
    kill(supervisor, libc::SIGKILL);
    wait_for("the program to go", Duration::from_secs(5), || {
        sleeping(&lead).is_empty()
    });
}

#[test]
fn the_supervisor_takes_a_program_back_when_its_foreground_run_is_killed() {
    let (world, lead) = up_sleeping("fgkill", "looper");
    let foreground = world.spawn(["foreground", "looper"]);
    wait_for("the hand-over", Duration::from_secs(5), || {
        program(&world.status(), "looper")["state"] == "foreground"
    });
    // devrig dies without handing it back; its terminal closes, which
    // ends the foreground run, and the supervisor notices its holder gone.
    foreground.kill();
    wait_for(
        "the supervisor to take it back",
        Duration::from_secs(5),
        || program(&world.status(), "looper")["state"] == "running",
    );
    assert!(
        world
            .program_log("looper")
            .contains("without handing it back")
    );
    wait_for("one copy running", Duration::from_secs(5), || {
        sleeping(&lead).len() == 1
    });
}

/// A program may be named `supervisor`: its output goes to its own log,
/// and the supervisor's log (a directory of its own) holds none of it.
#[test]
fn a_program_named_supervisor_keeps_out_of_the_supervisors_log() {
    let world = World::engine("progsup");
    world.config(&programs_only(
        world.project(),
        indoc! {"
            supervisor:
              command: sh -c 'echo written by the program; exec sleep 600'
        "},
    ));
    world.devrig().arg("up").run();
    wait_for("the program's output", Duration::from_secs(10), || {
        world
            .program_log("supervisor")
            .contains("written by the program")
    });
    let own = world.log_dir().join("devrig/supervisor.log");
    assert!(own.exists(), "the supervisor's log is {}", own.display());
    let own = std::fs::read_to_string(&own).unwrap();
    assert!(!own.contains("written by the program"), "{own}");
    world.devrig().arg("down").run();
}

/// Continues a stopped process however the test ends, so the world's
/// cleanup can stop it.
struct Resume(i64);

impl Drop for Resume {
    fn drop(&mut self) {
        kill(self.0, libc::SIGCONT);
    }
}

/// A wedged supervisor (here: SIGSTOPped) does not hang `status` or
/// `down`: each gives up after `DEVRIG_SUPERVISOR_TIMEOUT`, naming the
/// supervisor's pid and socket and how to end it.
#[test]
fn a_wedged_supervisor_is_an_error_naming_it_not_a_hang() {
    let (world, _lead) = up_sleeping("progwedge", "worker");
    let pid = supervisor_pid(&world);
    kill(pid, libc::SIGSTOP);
    let resume = Resume(pid);
    for command in [["status"], ["down"]] {
        let began = std::time::Instant::now();
        world
            .devrig()
            .args(command)
            .env("DEVRIG_SUPERVISOR_TIMEOUT", "1")
            .code(1)
            .stderr_contains(format!(
                "the supervisor (pid {pid}) did not answer within 1s on "
            ))
            .stderr_contains(format!("`kill {pid}`"))
            .run();
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "{command:?} took {:?}",
            began.elapsed()
        );
    }
    drop(resume);
    world.devrig().arg("down").run();
}

/// A stop that takes longer than the answer timeout is no wedge: the
/// supervisor still answers `status` meanwhile, and `down` waits for it.
#[test]
fn a_slow_stop_is_waited_for() {
    let world = World::engine("progslow");
    let lead = marker();
    world.config(&programs_only(
        world.project(),
        &formatdoc! {"
            stubborn:
              command: sh -c 'trap \"\" TERM; exec sleep {lead}'
              stopwaitsecs: 3
        "},
    ));
    world.devrig().arg("up").run();
    let began = std::time::Instant::now();
    world
        .devrig()
        .arg("down")
        .env("DEVRIG_SUPERVISOR_TIMEOUT", "1")
        .run();
    assert!(
        began.elapsed() >= Duration::from_secs(3),
        "{:?}",
        began.elapsed()
    );
    assert!(sleeping(&lead).is_empty());
}

/// A program log that is there but cannot be read is an error naming the
/// file, not an empty output. (Tests run as root, whom no file mode stops:
/// a directory in the log's place fails the read the same way.)
#[test]
fn an_unreadable_program_log_is_an_error() {
    let (world, _lead) = up_sleeping("progunread", "worker");
    let log = world.log_dir().join("worker.log");
    wait_for("the log file", Duration::from_secs(10), || log.exists());
    std::fs::rename(&log, log.with_extension("moved")).unwrap();
    std::fs::create_dir(&log).unwrap();
    world
        .devrig()
        .args(["logs", "worker"])
        .code(1)
        .stderr_contains("error: cannot read the log of worker (")
        .stderr_contains("/progunread-")
        .stderr_contains("/worker.log): Is a directory")
        .run();
    std::fs::remove_dir(&log).unwrap();
    world.devrig().arg("down").run();
}
