//! `devenv sync` as the real binary runs it: temp repos whose `x-devenv`
//! block lists small `sh` steps that append to `ran.log`, with their own
//! HOME, XDG dirs and `DEVRIG_STATE_DIR`. The repos have no Python or Node
//! files, so no doctor check applies (tested below): the gate passes on any
//! machine.

mod common;

use common::legacy::{World, run};
use devrig::toolchain::{self, HostEnv};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Three steps: `a` and `b` with an input file each, `c` with a file that
/// does not exist yet and a directory.
const THREE_STEPS: &str = "\
x-devenv:
  sync:
    - name: a
      command: echo a >> ran.log
      inputs: [a.txt]
    - name: b
      command: echo b >> ran.log
      inputs: [b.txt]
    - name: c
      command: echo c >> ran.log
      inputs: [c.txt, deps/]
";

fn world(config: &str) -> World {
    let world = World::new();
    world.config(config);
    world.file("a.txt", "a\n").file("b.txt", "b\n");
    std::fs::create_dir_all(world.repo().join("deps/nested")).expect("mkdir");
    world.file("deps/nested/lock", "1\n");
    world
}

fn state_dir(world: &World) -> PathBuf {
    world.root().join("state")
}

/// `devrig sync ARGS` in the world, its state isolated; with its wall time.
fn sync(world: &World, args: &[&str]) -> (i32, String, String, Duration) {
    let mut cmd = world.devrig();
    cmd.env("DEVRIG_STATE_DIR", state_dir(world))
        .env("XDG_DATA_HOME", world.root().join("home/.local/share"))
        .env("XDG_CONFIG_HOME", world.root().join("home/.config"))
        .arg("sync")
        .args(args);
    let started = Instant::now();
    let (code, stdout, stderr) = run(world, &mut cmd);
    (code, stdout, stderr, started.elapsed())
}

/// What the steps appended, one name per run.
fn ran(world: &World) -> Vec<String> {
    std::fs::read_to_string(world.repo().join("ran.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn clear_log(world: &World) {
    let _ = std::fs::remove_file(world.repo().join("ran.log"));
}

#[test]
fn no_doctor_check_applies_to_the_test_repos() {
    let world = world(THREE_STEPS);
    let mut env = HostEnv::from_process();
    env.set("HOME", world.root().join("home").display().to_string());
    let checks = toolchain::doctor(&world.repo(), &env).expect("loads");
    assert_eq!(checks, vec![], "the gate must pass on any machine");
}

#[test]
fn fresh_repo_runs_all_then_an_unchanged_repo_skips_all_quickly() {
    let world = world(THREE_STEPS);
    let (code, stdout, stderr, _) = sync(&world, &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(ran(&world), ["a", "b", "c"]);
    for step in ["a", "b", "c"] {
        assert!(
            stderr.contains(&format!("{step}  running echo {step} >> ran.log")),
            "{stderr}"
        );
    }
    assert_eq!(stderr.matches("  done in ").count(), 3, "{stderr}");
    // The state is the isolated one, one file per repo.
    let files: Vec<_> = std::fs::read_dir(state_dir(&world).join("sync"))
        .expect("state dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");

    clear_log(&world);
    let (code, _, stderr, took) = sync(&world, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(ran(&world), Vec::<String>::new(), "nothing changed");
    assert_eq!(
        stderr,
        "a  skipped (unchanged)\nb  skipped (unchanged)\nc  skipped (unchanged)\n"
    );
    assert!(
        took < Duration::from_millis(500),
        "a no-op sync took {took:?}"
    );
}

#[test]
fn a_changed_input_reruns_exactly_its_step() {
    let world = world(THREE_STEPS);
    assert_eq!(sync(&world, &[]).0, 0);

    clear_log(&world);
    world.file("b.txt", "b changed\n");
    let (code, _, stderr, _) = sync(&world, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(ran(&world), ["b"]);
    assert!(stderr.contains("a  skipped (unchanged)"), "{stderr}");
    assert!(stderr.contains("c  skipped (unchanged)"), "{stderr}");

    // Creating an input that was missing counts as a change.
    clear_log(&world);
    world.file("c.txt", "now here\n");
    assert_eq!(sync(&world, &[]).0, 0);
    assert_eq!(ran(&world), ["c"]);

    // So does a new file deep inside an input directory.
    clear_log(&world);
    world.file("deps/nested/deeper/new", "x\n");
    assert_eq!(sync(&world, &[]).0, 0);
    assert_eq!(ran(&world), ["c"]);

    // And the step's own command.
    clear_log(&world);
    world.config(&THREE_STEPS.replace("echo a >>", "echo a  >>"));
    assert_eq!(sync(&world, &[]).0, 0);
    assert_eq!(ran(&world), ["a"]);
}

#[test]
fn force_runs_every_step() {
    let world = world(THREE_STEPS);
    assert_eq!(sync(&world, &[]).0, 0);
    clear_log(&world);
    let (code, _, stderr, _) = sync(&world, &["--force"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(ran(&world), ["a", "b", "c"]);
    assert!(!stderr.contains("skipped"), "{stderr}");
}

/// `b` fails (printing 30 lines) until `fixed` exists.
const FAILING: &str = "\
x-devenv:
  sync:
    - name: a
      command: echo a >> ran.log
      inputs: [a.txt]
    - name: b
      command: |
        echo b >> ran.log
        test -f fixed && exit 0
        i=1; while [ $i -le 30 ]; do echo \"out $i\"; i=$((i+1)); done
        echo 'the real error' >&2
        exit 3
      inputs: [b.txt, fixed]
    - name: c
      command: echo c >> ran.log
";

#[test]
fn a_failing_step_stops_the_sync_shows_its_tail_and_is_retried() {
    let world = world(FAILING);
    let (code, _, stderr, _) = sync(&world, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(ran(&world), ["a", "b"], "c never runs after b failed");
    assert!(stderr.contains("b  failed after "), "{stderr}");
    assert!(
        stderr.contains("error: sync step `b` failed (exit status 3) after "),
        "{stderr}"
    );
    // The last 20 lines of its output, stdout and stderr interleaved.
    assert!(
        stderr.contains("  | out 30\n  | the real error\n"),
        "{stderr}"
    );
    assert!(stderr.contains("  | out 12\n"), "{stderr}");
    assert!(!stderr.contains("  | out 11\n"), "{stderr}");
    assert!(
        stderr.contains("hint: the step (devservices/config.yml:6) runs `echo b >> ran.log …` with sh in the repo root"),
        "{stderr}"
    );

    // Nothing was recorded for b: the next sync tries it again (and a,
    // recorded, is skipped).
    clear_log(&world);
    let (code, _, stderr, _) = sync(&world, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(ran(&world), ["b"]);

    // Fixed: b and then c run.
    clear_log(&world);
    world.file("fixed", "");
    let (code, _, stderr, _) = sync(&world, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(ran(&world), ["b", "c"]);
}

#[test]
fn json_lists_each_step_with_outcome_seconds_and_hash() {
    let world = world(FAILING);
    let (code, stdout, stderr, _) = sync(&world, &["--json"]);
    assert_eq!(code, 1, "{stderr}");
    let steps: serde_json::Value = serde_json::from_str(&stdout).expect("json on stdout");
    let steps = steps.as_array().expect("a list");
    let outcomes: Vec<_> = steps.iter().map(|s| s["outcome"].clone()).collect();
    assert_eq!(outcomes, ["ran", "failed"], "{stdout}");
    for step in steps {
        let keys: Vec<_> = step.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["name", "outcome", "seconds", "hash"]);
        assert!(step["seconds"].as_f64().is_some_and(|s| s >= 0.0));
        let hash = step["hash"].as_str().expect("hash");
        assert_eq!(hash.len(), 64);
        assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
    }
    assert!(!stderr.contains("running"), "no progress lines with --json");

    world.file("fixed", "");
    let (code, stdout, stderr, _) = sync(&world, &["--json"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    let steps: serde_json::Value = serde_json::from_str(&stdout).expect("json");
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
    let link = world.root().join("bin/devenv");
    std::fs::create_dir_all(link.parent().expect("parent")).expect("mkdir");
    std::os::unix::fs::symlink(assert_cmd::cargo::cargo_bin("devrig"), &link).expect("symlink");
    let mut cmd = world.named_devrig(&link);
    cmd.env("DEVRIG_STATE_DIR", state_dir(&world))
        .args(["sync", "-v"]);
    let (code, _, stderr) = run(&world, &mut cmd);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(ran(&world), ["a", "b", "c"]);
    assert!(stderr.contains("a  | hello from a\n"), "{stderr}");

    let (_, stdout, _) = run(&world, world.devrig().arg("--help"));
    assert!(stdout.contains("doctor, sync"), "{stdout}");
}

#[test]
fn a_repo_without_steps_has_nothing_to_sync() {
    let world = World::new();
    let (code, stdout, stderr, _) = sync(&world, &["--json"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), "[]");
}
