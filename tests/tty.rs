//! `up` on a terminal, as a developer sees it: live progress (a bar per
//! pull, a spinner per container still being waited on), colors, and the
//! same final lines as in a log. Its own binary: it removes a test-bed image
//! from the engine's cache to see a real pull.

mod common;

use common::terminal::Terminal;
use common::{World, devservices_config, docker, formatdoc};

#[test]
fn up_on_a_terminal_shows_live_progress_and_colors() {
    let world = World::engine("tty");
    let project = world.project();
    let port = world.port();
    // A redis that listens only after 3 s: long enough for the spinner.
    world.config(&devservices_config(
        project,
        &formatdoc! {r#"
        services:
          slow:
            image: redis:7
            command: [sh, -c, "sleep 3; exec redis-server --port 7777 --save ''"]
            ports: ["127.0.0.1:{port}:7777"]
            healthcheck:
              test: redis-cli -p 7777 ping | grep -q PONG
              interval: 30s
    "#},
    ));
    docker(&["rmi", "-f", "127.0.0.1:5000/library/redis:7"]);

    let term = Terminal::spawn_command({
        let mut cmd = world.command();
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
    world.devrig().arg("down").run();
    let _filters = world.snapshot_settings().bind_to_scope();
    let piped = world.devrig().arg("up").stderr_lacks("\x1b").run();
    insta::assert_snapshot!(piped.stderr, @"
         Started [PROJECT]-slow-1
           Ready [PROJECT]-slow-1 ([DURATION])
              Up [PROJECT] (mode default) in [DURATION]
    ");
}
