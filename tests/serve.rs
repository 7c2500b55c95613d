//! `devrig serve`: the dev server runs in a pseudo-terminal of its own, gets
//! the extra arguments, signals and its exit code out. devrig itself is run
//! attached to a pseudo-terminal this test opens, as from a terminal.

mod common;

use common::legacy::{World, run};
use common::terminal::Terminal;
use std::time::Instant;

/// A config whose dev server is `sh ./serve.sh` in the repo, with no
/// containers: these tests must not depend on the engine.
fn world_with(script: &str) -> World {
    let world = World::new();
    world.config(
        "x-sentry-service-config:\n  version: 0.1\n  service_name: serve-test\n  dependencies:\n    devserver: {description: dev server}\n  modes:\n    default: [devserver]\nx-programs:\n  devserver:\n    command: sh ./serve.sh\n    environment: 'GREETING=\"hello there\"'\n",
    );
    world.file("serve.sh", script);
    world
}

fn same_modes(a: &libc::termios, b: &libc::termios) -> bool {
    a.c_iflag == b.c_iflag
        && a.c_oflag == b.c_oflag
        && a.c_lflag == b.c_lflag
        && a.c_cflag == b.c_cflag
}

#[test]
fn runs_the_devserver_in_its_own_terminal_with_extra_args_and_its_exit_code() {
    let world = world_with(
        "if [ -t 0 ] && [ -t 1 ]; then echo 'in a terminal'; else echo 'not in a terminal'; fi\n\
         echo \"tty: $(tty)\"\necho \"greeting: $GREETING\"\necho \"dir: $(pwd)\"\n\
         printf 'arg: <%s>\\n' \"$@\"\nexit 3\n",
    );
    let started = Instant::now();
    let term = Terminal::spawn(&world, &["serve", "--flag", "-x", "two words"]);
    let slave_name = term.name.clone();
    let (code, out) = term.finish();
    eprintln!("serve ran in {:?}", started.elapsed());
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("in a terminal\n"), "{out}");
    let inner = out
        .lines()
        .find_map(|l| l.strip_prefix("tty: "))
        .unwrap_or_default();
    assert!(inner.starts_with("/dev/pts/"), "{out}");
    assert_ne!(
        inner, slave_name,
        "the dev server must get a terminal of its own"
    );
    assert!(out.contains("greeting: hello there\n"), "{out}");
    let repo = world.repo().canonicalize().expect("repo");
    assert!(out.contains(&format!("dir: {}\n", repo.display())), "{out}");
    assert!(
        out.contains("arg: <--flag>\narg: <-x>\narg: <two words>\n"),
        "{out}"
    );
}

#[test]
fn without_a_terminal_it_still_runs_the_devserver_in_one() {
    let world = world_with("[ -t 1 ] && echo 'in a terminal'\nexit 5\n");
    let (code, stdout, stderr) = run(&world, world.devrig().arg("serve").write_stdin(""));
    assert_eq!(code, 5, "{stdout}{stderr}");
    assert!(stdout.contains("in a terminal"), "{stdout}{stderr}");
}

const TRAPS: &str = "trap 'echo got INT; exit 0' INT\ntrap 'echo got TERM; exit 0' TERM\n\
                     echo ready\nwhile :; do sleep 0.1; done\n";

#[test]
fn sigint_to_devrig_reaches_the_devserver() {
    let world = world_with(TRAPS);
    let term = Terminal::spawn(&world, &["serve"]);
    term.wait_for("ready");
    term.signal(libc::SIGINT);
    let (code, out) = term.finish();
    assert!(out.contains("got INT"), "{out}");
    assert_eq!(code, 0, "{out}");
}

#[test]
fn sigterm_to_devrig_reaches_the_devserver() {
    let world = world_with(TRAPS);
    let term = Terminal::spawn(&world, &["serve"]);
    term.wait_for("ready");
    term.signal(libc::SIGTERM);
    let (code, out) = term.finish();
    assert!(out.contains("got TERM"), "{out}");
    assert_eq!(code, 0, "{out}");
}

#[test]
fn ctrl_c_typed_reaches_the_devserver_through_its_terminal() {
    let world = world_with(TRAPS);
    let mut term = Terminal::spawn(&world, &["serve"]);
    // Read before devrig started: read after, it may be raw already.
    let before = term.initial;
    term.wait_for("ready");
    // Raw while serving: the key must reach the dev server's terminal as a
    // byte, not become a signal of devrig's own terminal.
    assert_eq!(term.termios().c_lflag & (libc::ICANON | libc::ISIG), 0);
    term.type_bytes(b"\x03");
    term.wait_exit();
    assert!(
        same_modes(&before, &term.termios()),
        "devrig's terminal modes are not restored"
    );
    let (code, out) = term.finish();
    assert!(out.contains("got INT"), "{out}");
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_devserver_killed_by_a_signal_exits_128_plus_the_signal() {
    let world = world_with("kill -KILL $$\n");
    let (code, stdout, stderr) = run(&world, world.devrig().arg("serve"));
    assert_eq!(code, 128 + 9, "{stdout}{stderr}");
}

#[test]
fn missing_devserver_exits_2_saying_what_to_add() {
    let world = World::new();
    world.config(
        "x-sentry-service-config:\n  version: 0.1\n  service_name: serve-test\n  dependencies: {}\n  modes:\n    default: []\n",
    );
    let (code, _, stderr) = run(&world, world.devrig().arg("serve"));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("declares no `devserver` program"),
        "{stderr}"
    );
    assert!(
        stderr.contains("x-programs:\n  devserver:\n    command: <your dev server command>"),
        "{stderr}"
    );
}

#[test]
fn containers_not_running_are_named_or_an_absent_engine_is_a_warning() {
    let world = World::new();
    let project = common::legacy::unique_project("serve-check");
    world.config(&format!(
        "x-sentry-service-config:\n  version: 0.1\n  service_name: {project}\n  dependencies:\n    db: {{description: db}}\n    devserver: {{description: dev server}}\n  modes:\n    default: [db, devserver]\nx-programs:\n  devserver:\n    command: echo served\nservices:\n  db:\n    image: postgres:14-alpine\n",
    ));
    let (code, stdout, stderr) = run(&world, world.devrig().arg("serve"));
    // Whether an engine runs here is not this test's business: with one the
    // never-started container is named, without one serve goes on.
    if code == 1 {
        assert!(
            stderr.contains(&format!("not running: {project}/db (missing)")),
            "{stderr}"
        );
        assert!(stderr.contains("devrig up"), "{stderr}");
        assert!(!stdout.contains("served"), "{stdout}");
    } else {
        assert_eq!(code, 0, "{stdout}{stderr}");
        assert!(
            stderr.contains("warning: cannot check the containers"),
            "{stderr}"
        );
        assert!(stdout.contains("served"), "{stdout}");
    }
}
