//! `devenv sync` as the real binary runs it: temp repos whose `x-devenv`
//! block lists small `sh` steps that append to `ran.log`, with their own
//! HOME, XDG dirs and `DEVRIG_STATE_DIR`. The repos have no Python or Node
//! files, so no doctor check applies (tested below): the gate passes on any
//! machine. How fast a no-op sync is: bench/cli.sh.

mod common;

use common::{Test, World, indoc};
use devrig::toolchain::{self, HostEnv};

/// Three steps: `a` and `b` with an input file each, `c` with a file that
/// does not exist yet and a directory. (bench/cli.sh times a no-op sync of
/// the same steps.)
const THREE_STEPS: &str = include_str!("fixtures/sync/three-steps.yml");

/// `b` fails (printing 30 lines) until `fixed` exists.
const FAILING: &str = indoc! {r#"
    x-devenv:
      sync:
        - name: a
          command: echo a >> ran.log
          inputs: [a.txt]
        - name: b
          command: |
            echo b >> ran.log
            test -f fixed && exit 0
            i=1; while [ $i -le 30 ]; do echo "out $i"; i=$((i+1)); done
            echo 'the real error' >&2
            exit 3
          inputs: [b.txt, fixed]
        - name: c
          command: echo c >> ran.log
"#};

/// A repo with `config` and the steps' input files.
fn world(config: &str) -> World {
    let world = World::new();
    world
        .config(config)
        .file("a.txt", "a\n")
        .file("b.txt", "b\n")
        .file("deps/nested/lock", "1\n");
    world
}

/// `devrig sync ARGS` in the world.
fn sync<'w>(world: &'w World, args: &[&str]) -> Test<'w> {
    world.devrig().arg("sync").args(args)
}

/// What the steps appended since the last call, one name per run.
fn ran(world: &World) -> Vec<String> {
    let log = world.repo().join("ran.log");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    text.lines().map(str::to_owned).collect()
}

#[test]
fn no_doctor_check_applies_to_the_test_repos() {
    let world = world(THREE_STEPS);
    let mut env = HostEnv::from_process();
    env.set("HOME", world.home().display().to_string());
    let checks = toolchain::doctor(&world.repo(), &env).expect("loads");
    // Which devservices runs is a warning at most, never in sync's way.
    let gating: Vec<_> = checks
        .into_iter()
        .filter(|c| c.id != "devservices.path")
        .collect();
    assert_eq!(gating, vec![], "the gate must pass on any machine");
}

#[test]
fn fresh_repo_runs_all_then_an_unchanged_repo_skips_all() {
    let world = world(THREE_STEPS);
    // Each step's `running` line, then `done in` its time.
    let _filters = world.snapshot_settings().bind_to_scope();
    let fresh = sync(&world, &[]).run();
    insta::assert_snapshot!(fresh.stderr, @"
    a  running echo a >> ran.log
    a  done in [DURATION]
    b  running echo b >> ran.log
    b  done in [DURATION]
    c  running echo c >> ran.log
    c  done in [DURATION]
    ");
    assert_eq!(ran(&world), ["a", "b", "c"]);
    // The state is the isolated one, one file per repo.
    let files: Vec<_> = std::fs::read_dir(world.state_dir().join("sync"))
        .expect("state dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");

    sync(&world, &[])
        .stderr(indoc! {"
            a  skipped (unchanged)
            b  skipped (unchanged)
            c  skipped (unchanged)
        "})
        .run();
    assert_eq!(ran(&world), Vec::<String>::new(), "nothing changed");
}

#[test]
fn a_changed_input_reruns_exactly_its_step() {
    let world = world(THREE_STEPS);
    sync(&world, &[]).run();
    ran(&world);

    world.file("b.txt", "b changed\n");
    sync(&world, &[])
        .stderr_contains("a  skipped (unchanged)")
        .stderr_contains("c  skipped (unchanged)")
        .run();
    assert_eq!(ran(&world), ["b"]);

    // Creating an input that was missing counts as a change.
    world.file("c.txt", "now here\n");
    sync(&world, &[]).run();
    assert_eq!(ran(&world), ["c"]);

    // So does a new file deep inside an input directory.
    world.file("deps/nested/deeper/new", "x\n");
    sync(&world, &[]).run();
    assert_eq!(ran(&world), ["c"]);

    // And the step's own command.
    world.config(&THREE_STEPS.replace("echo a >>", "echo a  >>"));
    sync(&world, &[]).run();
    assert_eq!(ran(&world), ["a"]);
}

#[test]
fn force_runs_every_step() {
    let world = world(THREE_STEPS);
    sync(&world, &[]).run();
    ran(&world);
    sync(&world, &["--force"]).stderr_lacks("skipped").run();
    assert_eq!(ran(&world), ["a", "b", "c"]);
}

#[test]
fn a_failing_step_stops_the_sync_shows_its_tail_and_is_retried() {
    let world = world(FAILING);
    // The last 20 lines of its output, stdout and stderr interleaved, and
    // where the step is defined.
    sync(&world, &[]).code(1).stderr_snapshot().run();
    assert_eq!(ran(&world), ["a", "b"], "c never runs after b failed");

    // Nothing was recorded for b: the next sync tries it again (and a,
    // recorded, is skipped).
    sync(&world, &[]).code(1).run();
    assert_eq!(ran(&world), ["b"]);

    // Fixed: b and then c run.
    world.file("fixed", "");
    sync(&world, &[]).run();
    assert_eq!(ran(&world), ["b", "c"]);
}

#[test]
fn json_lists_each_step_with_outcome_seconds_and_hash() {
    let world = world(FAILING);
    let steps = sync(&world, &["--json"])
        .code(1)
        .stderr_lacks("running")
        .run()
        .json();
    let steps = steps.as_array().expect("a list");
    let outcomes: Vec<_> = steps.iter().map(|s| s["outcome"].clone()).collect();
    assert_eq!(outcomes, ["ran", "failed"]);
    for step in steps {
        let keys: Vec<_> = step.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["name", "outcome", "seconds", "hash"]);
        assert!(step["seconds"].as_f64().is_some_and(|s| s >= 0.0));
        let hash = step["hash"].as_str().expect("hash");
        assert_eq!(hash.len(), 64);
        assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
    }

    world.file("fixed", "");
    let steps = sync(&world, &["--json"]).stderr("").run().json();
    let summary: Vec<_> = steps
        .as_array()
        .expect("list")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().expect("name").to_owned(),
                s["outcome"].as_str().expect("outcome").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [("a", "skipped"), ("b", "ran"), ("c", "ran")].map(|(n, o)| (n.to_owned(), o.to_owned()))
    );
    assert_eq!(steps[0]["seconds"], 0.0);
}

#[test]
fn verbose_streams_the_output_and_devenv_runs_it_too() {
    let world =
        world(&THREE_STEPS.replace("echo a >> ran.log", "echo a >> ran.log; echo hello from a"));
    world
        .devrig()
        .named("devenv")
        .args(["sync", "-v"])
        .stderr_contains("a  | hello from a\n")
        .run();
    assert_eq!(ran(&world), ["a", "b", "c"]);

    world
        .devrig()
        .arg("--help")
        .stdout_contains("doctor, sync")
        .run();
}

#[test]
fn a_repo_without_steps_has_nothing_to_sync() {
    Test::new().args(["sync", "--json"]).stdout("[]\n").run();
}

/// An input directory may hold something big (a dump, a `node_modules`):
/// its files are streamed through the hash, so devrig's memory stays far
/// below their size. (A sparse 512 MiB file: no disk is used, and reading
/// it whole would show in the peak RSS the kernel reports on wait.)
#[test]
fn a_large_input_is_hashed_without_reading_it_whole() {
    const SIZE: u64 = 512 << 20;
    let world = world(THREE_STEPS);
    let dump = std::fs::File::create(world.repo().join("deps/dump.sql")).unwrap();
    dump.set_len(SIZE).unwrap();
    drop(dump);
    // Reaped below by wait4, which std's wait cannot do: it returns no rusage.
    #[allow(clippy::zombie_processes)]
    let child = world
        .command()
        .arg("sync")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn devrig");
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child (std has not reaped it) and fills
    // the two out-parameters, which live for the call.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32, "wait4");
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    assert_eq!(ran(&world), ["a", "b", "c"]);
    let peak = usage.ru_maxrss as u64 * 1024;
    assert!(
        peak < SIZE / 4,
        "peak RSS {} MiB while hashing a {} MiB input",
        peak >> 20,
        SIZE >> 20
    );
}
