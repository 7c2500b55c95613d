//! `devenv fetch ORG/REPO` with the user's real git: the world's
//! `~/.gitconfig` rewrites GitHub's URLs (`insteadOf`, as a mirror or a
//! proxy setup would) to bare repositories on disk, so the clone is a real
//! `git clone` of `git@github.com:getsentry/app` (or of
//! `https://github.com/…` in CI) without the network.

mod common;

use common::{Test, World, indoc, write};

/// A world whose git fetches `git@github.com:getsentry/*` and
/// `https://github.com/getsentry/*` from its bare remotes, with a remote
/// `app` whose one sync step logs that it ran.
fn world() -> World {
    let world = World::new();
    let remotes = world.remotes().display().to_string();
    write(
        &world.home().join(".gitconfig"),
        &format!(
            "[url \"file://{remotes}/\"]\n\tinsteadOf = git@github.com:getsentry/\n\tinsteadOf = https://github.com/getsentry/\n"
        ),
    );
    world.remote_config(
        "app",
        indoc! {"
            x-devenv:
              sync:
                - name: setup
                  command: echo synced >> ran.log
        "},
    );
    world
}

fn fetch<'w>(world: &'w World, args: &[&str]) -> Test<'w> {
    world.devrig().named("devenv").arg("fetch").args(args)
}

#[test]
fn fetch_clones_into_the_coderoot_then_syncs_and_leaves_a_checkout_alone() {
    let world = world();
    fetch(&world, &["getsentry/app"]).stderr_snapshot().run();
    let checkout = world.home().join("code/app");
    assert_eq!(
        std::fs::read_to_string(checkout.join("ran.log")).expect("synced"),
        "synced\n"
    );

    // A second fetch: the checkout is not touched, its sync has nothing to do.
    std::fs::write(checkout.join("mine.txt"), "local work\n").expect("write");
    fetch(&world, &["getsentry/app"])
        .stderr_contains("Exists [TMP]/home/code/app (not touched; syncing it)")
        .stderr_contains("setup  skipped (unchanged)")
        .run();
    assert!(checkout.join("mine.txt").is_file());
}

#[test]
fn in_ci_fetch_clones_over_https_and_shallow() {
    let world = world();
    fetch(&world, &["getsentry/app"])
        .env("CI", "true")
        .stderr_contains("Fetched https://github.com/getsentry/app into [TMP]/home/code/app")
        .run();
    let shallow = std::process::Command::new("git")
        .args(["rev-parse", "--is-shallow-repository"])
        .current_dir(world.home().join("code/app"))
        .output()
        .expect("git");
    assert_eq!(String::from_utf8_lossy(&shallow.stdout).trim(), "true");
}

#[test]
fn fetch_goes_to_sentry_devenvs_coderoot() {
    let world = world();
    write(
        &world.home().join(".config/sentry-devenv/config.ini"),
        "[devenv]\ncoderoot = ~/src\n",
    );
    fetch(&world, &["getsentry/app", "--https"])
        .stderr_contains("Fetched https://github.com/getsentry/app into [TMP]/home/src/app")
        .run();
}

#[test]
fn a_repo_that_is_not_org_slash_repo_is_a_usage_error() {
    Test::new()
        .named("devenv")
        .args(["fetch", "sentry"])
        .code(2)
        .stderr("error: `sentry` is not ORG/REPO\nhint: name it as on GitHub: devenv fetch getsentry/sentry\n")
        .run();
}

#[test]
fn a_clone_that_fails_shows_gits_words_and_leaves_nothing() {
    let world = world();
    fetch(&world, &["getsentry/missing"])
        .code(1)
        .stderr_contains(
            "error: git clone git@github.com:getsentry/missing failed (exit status: 128)",
        )
        .stderr_contains("git: ")
        .run();
    let left: Vec<_> = std::fs::read_dir(world.home().join("code"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}
