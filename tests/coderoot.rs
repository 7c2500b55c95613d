//! devservices' command forms that name a service, on the real engine:
//! `devservices up snuba` from any directory starts the snuba checkout
//! under sentry-devenv's coderoot, and `status`, `logs`, `list-services`,
//! `down`, `purge` and `reset` take the same names. Also `--exclude-local`.

mod common;

use common::{
    World, devservices_config, formatdoc, git, marker, sleeping, uses_one_remote, wait_for, write,
};
use std::path::PathBuf;
use std::time::Duration;

/// Writes sentry-devenv's config with the coderoot `~/code`; returns it.
fn coderoot(world: &World) -> PathBuf {
    write(
        &world.home().join(".config/sentry-devenv/config.ini"),
        "[devenv]\ncoderoot = ~/code\n",
    );
    world.home().join("code")
}

/// A checkout of service `name` under the coderoot: one redis container,
/// `compose` its compose service name, with a volume.
fn checkout(world: &World, name: &str, compose: &str) {
    write(
        &coderoot(world).join(name).join("devservices/config.yml"),
        &devservices_config(
            name,
            &formatdoc! {r#"
                services:
                  {compose}:
                    image: redis:7
                    command: [redis-server, --port, "7777", --save, ""]
                    volumes: [data:/data]
                volumes:
                  data:
            "#},
        ),
    );
}

/// `devservices ARGS` run from the home directory, outside every repo.
fn from_home<'w>(world: &'w World, args: &[&str]) -> common::Test<'w> {
    world
        .devrig()
        .named("devservices")
        .current_dir(world.home())
        .args(args)
}

fn running(world: &World, container: &str) -> bool {
    world.docker(&["inspect", "--format", "{{.State.Running}}", container]) == "true"
}

#[test]
fn a_service_named_from_anywhere_is_brought_up_shown_and_brought_down() {
    let world = World::engine("named");
    let project = world.project().to_owned();
    checkout(&world, &project, "kv");
    let kv = format!("{project}-kv-1");
    let devservices = |args: &[&str]| from_home(&world, args);

    devservices(&["up", &project])
        .stderr_contains(format!("Up {project} (mode default)"))
        .run();
    assert!(running(&world, &kv));

    let status = devservices(&["--json", "status", &project]).run().json();
    assert_eq!(
        status["containers"][0]["container"],
        kv.as_str(),
        "{status}"
    );
    assert_eq!(status["containers"][0]["state"], "running", "{status}");
    // Running is not yet having written a line: wait for redis's first.
    wait_for("its first log line", Duration::from_secs(30), || {
        devservices(&["logs", &project])
            .run()
            .stdout
            .contains(&format!("{kv} |"))
    });
    devservices(&["list-services"])
        .stdout_contains(&project)
        .stdout_contains("running")
        .run();

    devservices(&["down", &project])
        .stderr_contains(format!("Down {project}"))
        .run();
    assert!(!running(&world, &kv));
    // (The state, rebuilt at the first `up` from the shared engine's
    // labels, may hold other tests' services.)
    devservices(&["list-services"]).stdout_lacks(&project).run();
}

#[test]
fn purge_and_reset_of_one_service_leave_the_others_alone() {
    let world = World::engine("scoped");
    let (one, two) = (world.project().to_owned(), world.other_project("other"));
    checkout(&world, &one, "cache");
    checkout(&world, &two, "store");
    let devservices = |args: &[&str]| from_home(&world, args);
    devservices(&["up", &one]).run();
    devservices(&["up", &two]).run();
    let volume_of = |project: &str| {
        world.docker(&[
            "volume",
            "ls",
            "-q",
            "--filter",
            &format!("name={project}_data"),
        ])
    };

    // reset by compose service name, as devservices does, from outside
    // every repo: asks, or takes --yes.
    devservices(&["reset", "store"])
        .code(2)
        .stderr_contains("refusing to delete data without confirmation")
        .run();
    devservices(&["reset", "store", "--yes"])
        .stderr_contains(format!("Removed volume {two}_data"))
        .run();
    assert!(volume_of(&two).is_empty(), "its volume is gone");
    assert_eq!(volume_of(&one), format!("{one}_data"), "the other's stays");
    assert!(running(&world, &format!("{one}-cache-1")));

    // purge of one service: its containers, volume and state only.
    devservices(&["up", &two]).run();
    devservices(&["purge", &two, "--yes"])
        .stderr_contains(format!("Purged {two}"))
        .run();
    assert!(
        world
            .docker(&[
                "ps",
                "-aq",
                "--filter",
                &format!("label=com.docker.compose.project={two}")
            ])
            .is_empty()
    );
    assert!(volume_of(&two).is_empty());
    assert!(
        running(&world, &format!("{one}-cache-1")),
        "the other runs on"
    );
    let listed = devservices(&["--json", "list-services"]).run().json();
    let names: Vec<&str> = listed
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    // (A state rebuilt from the shared engine's labels may list other
    // tests' services too.)
    assert!(names.contains(&one.as_str()), "{names:?}");
    assert!(
        !names.contains(&two.as_str()),
        "the purged one left the state: {names:?}"
    );
}

#[test]
fn exclude_local_neither_starts_nor_stops_a_dependency_toggled_to_local() {
    let world = World::engine("exclude");
    let project = world.project().to_owned();
    let store = world.other_project("store");
    let lead = marker();
    // The dependency: a remote of the app, also checked out under the
    // coderoot; run locally (its default mode) it has a program.
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
            command: [redis-server, --port, "7777", --save, ""]
    "#};
    world.remote_config("store", &store_config);
    git(
        coderoot(&world).parent().expect("home"),
        &[
            "clone",
            "-q",
            &world.root().join("work/store").display().to_string(),
            "code/store",
        ],
    );
    world.config(&uses_one_remote(&project, "store", "containerized"));
    let kv = format!("{store}-kv-1");
    world
        .devrig()
        .args(["toggle", &store, "local"])
        .stderr_contains(format!("Toggled {store} to local"))
        .run();

    world
        .devrig()
        .args(["up", "--exclude-local"])
        .stderr_contains(format!(
            "skipping {store}: it is toggled to run locally (--exclude-local)"
        ))
        .run();
    assert!(
        sleeping(&lead).is_empty(),
        "the local dependency did not start"
    );
    world
        .devrig()
        .arg("up")
        .stderr_contains(format!("starting {store} from"))
        .run();
    assert_eq!(sleeping(&lead).len(), 1);
    assert!(running(&world, &kv));

    world.devrig().args(["down", "--exclude-local"]).run();
    assert_eq!(sleeping(&lead).len(), 1, "the local dependency runs on");
    assert!(running(&world, &kv));
    // A plain down of the app takes its last user's local dependency along.
    world.devrig().arg("up").run();
    world.devrig().arg("down").run();
    assert!(sleeping(&lead).is_empty());
    assert!(!running(&world, &kv));
}

#[test]
fn purge_of_a_remote_service_removes_its_cached_checkout_whatever_the_repo_is_named() {
    let world = World::engine("cached");
    let project = world.project().to_owned();
    let store = world.other_project("store");
    // The cache keeps a remote under its `repo_name`; devservices finds the
    // service's copy by the `service_name` in it.
    world.remote_config(
        "store-checkout",
        &devservices_config(&store, "services:\n  kv:\n    image: redis:7\n"),
    );
    world.config(&uses_one_remote(&project, "store-checkout", "default"));
    world.devrig().arg("config").run();
    let cached = world.cache().join("store-checkout");
    assert!(cached.join("devservices/config.yml").is_file());

    world
        .devrig()
        .args(["purge", &store, "--yes"])
        .stderr_contains(format!("Purged {store}"))
        .run();
    assert!(!cached.exists(), "its cached checkout is gone");
}
