//! `up` on a terminal, as a developer sees it: live progress (a bar per
//! pull, a spinner per container still being waited on), colors, and the
//! same final lines as in a log. Its own binary: it removes a test-bed image
//! from the engine's cache to see a real pull.

mod common;

use common::legacy::{Cleanup, World, docker, free_port, require_testbed, run, unique_project};
use common::terminal::Terminal;

#[test]
fn up_on_a_terminal_shows_live_progress_and_colors() {
    require_testbed();
    let world = World::new();
    let project = unique_project("tty");
    let _cleanup = Cleanup(vec![project.clone()]);
    let port = free_port();
    // A redis that listens only after 3 s: long enough for the spinner.
    world.config(&format!(
        "x-sentry-service-config:\n  version: 0.1\n  service_name: {project}\n  dependencies:\n    slow: {{description: slow}}\n  modes:\n    default: [slow]\nservices:\n  slow:\n    image: redis:7\n    command: [sh, -c, \"sleep 3; exec redis-server --port 7777 --save ''\"]\n    ports: [\"127.0.0.1:{port}:7777\"]\n    healthcheck:\n      test: redis-cli -p 7777 ping | grep -q PONG\n      interval: 30s\n"
    ));
    docker(&["rmi", "-f", "127.0.0.1:5000/library/redis:7"]);

    let term = Terminal::spawn_command({
        let mut cmd = world.devrig_engine_std();
        // As in a terminal emulator: without TERM, indicatif takes the
        // terminal for a dumb one and draws no live lines.
        cmd.arg("up").env("TERM", "xterm-256color");
        cmd
    });
    let (code, output) = term.finish();
    assert_eq!(code, 0, "{output}");
    let container = format!("{project}-slow-1");
    assert!(
        output.contains(&format!("waiting on {container}")),
        "a live line while waiting:\n{output}"
    );
    assert!(output.contains("\x1b[32m"), "colored verbs:\n{output}");
    assert!(
        output.contains("\x1b[2K") || output.contains("\x1b[1A"),
        "redrawn lines:\n{output}"
    );
    for line in [
        "Pulled\x1b[0m 127.0.0.1:5000/library/redis:7".to_owned(),
        format!("Ready\x1b[0m {container}"),
        format!("Up\x1b[0m {project} (mode default)"),
    ] {
        assert!(output.contains(&line), "{line:?} in:\n{output}");
    }

    // The same `up` in a pipe: plain lines, no escape codes at all.
    let (code, _, stderr) = run(&world, world.devrig_engine().arg("down"));
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = run(&world, world.devrig_engine().arg("up"));
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains('\x1b'), "{stderr}");
    assert!(stderr.contains(&format!("Ready {container}")), "{stderr}");
}
