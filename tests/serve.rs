//! `devrig serve`: the dev server runs in a pseudo-terminal of its own, gets
//! the extra arguments, signals and its exit code out. devrig itself is run
//! attached to a pseudo-terminal this test opens, as from a terminal.

mod common;

use common::terminal::Terminal;
use common::{World, devserver_beside_a_db, devservices_config, indoc};

/// A config whose dev server is `sh ./serve.sh` in the repo, with no
/// containers: these tests must not depend on the engine.
fn world_with(script: &str) -> World {
    let world = World::new();
    world
        .config(&devservices_config(
            "serve-test",
            indoc! {r#"
                x-programs:
                  devserver:
                    command: sh ./serve.sh
                    environment: 'GREETING="hello there"'
            "#},
        ))
        .file("serve.sh", script);
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
    let world = world_with(indoc! {r#"
        if [ -t 0 ] && [ -t 1 ]; then echo 'in a terminal'; else echo 'not in a terminal'; fi
        echo "tty: $(tty)"
        echo "greeting: $GREETING"
        echo "dir: $(pwd)"
        printf 'arg: <%s>\n' "$@"
        exit 3
    "#});
    let term = Terminal::spawn(&world, &["serve", "--flag", "-x", "two words"]);
    let slave_name = term.name.clone();
    let (code, out) = term.finish();
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
    let world = world_with(indoc! {"
        [ -t 1 ] && echo 'in a terminal'
        exit 5
    "});
    world
        .devrig()
        .arg("serve")
        .stdin("")
        .code(5)
        .stdout_contains("in a terminal")
        .run();
}

const TRAPS: &str = indoc! {"
    trap 'echo got INT; exit 0' INT
    trap 'echo got TERM; exit 0' TERM
    echo ready
    while :; do sleep 0.1; done
"};

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
    world.devrig().arg("serve").code(128 + 9).run();
}

#[test]
fn missing_devserver_exits_2_saying_what_to_add() {
    let world = World::new();
    world.config(indoc! {"
        x-sentry-service-config:
          version: 0.1
          service_name: serve-test
          dependencies: {}
          modes:
            default: []
    "});
    world
        .devrig()
        .arg("serve")
        .code(2)
        .stderr(indoc! {"
            error: [TMP]/repo/devservices/config.yml declares no `devserver` program to serve
            hint: add it to the config:

            x-programs:
              devserver:
                command: <your dev server command>
        "})
        .run();
}

/// With an engine, the containers not running are named instead
/// (tests/engine.rs, `serve_names_the_containers_that_are_not_running`).
#[test]
fn an_absent_engine_is_a_warning_and_serve_goes_on() {
    let world = World::new();
    world.config(&devserver_beside_a_db("serve-check"));
    world
        .devrig()
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .arg("serve")
        .stderr_contains("warning: cannot check the containers")
        .stdout_contains("served")
        .run();
}
