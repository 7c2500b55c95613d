//! devservices' command forms that name a service (`devservices up snuba`,
//! `devservices status sentry`), and its other forms devrig takes as they
//! are: the service is found by its `service_name` in this repo or under
//! sentry-devenv's coderoot, from any directory. What needs no engine: how
//! names resolve, the errors, `update`, and which flags each command has.

mod common;

use common::{World, devservices_config, formatdoc, indoc, write};
use std::path::PathBuf;

/// A coderoot `~/code` (named in sentry-devenv's config.ini, as devenv
/// writes it) holding checkouts of the services `names`, each with one
/// redis container.
fn coderoot(world: &World, names: &[&str]) -> PathBuf {
    let root = world.home().join("code");
    write(
        &world.home().join(".config/sentry-devenv/config.ini"),
        "[devenv]\ncoderoot = ~/code\n",
    );
    for name in names {
        write(
            &root.join(name).join("devservices/config.yml"),
            &one_redis(name),
        );
    }
    root
}

/// The config of service `name` with one redis container.
fn one_redis(name: &str) -> String {
    devservices_config(
        name,
        indoc! {r#"
            services:
              kv:
                image: redis:7
        "#},
    )
}

#[test]
fn a_service_resolves_by_name_from_outside_every_repo() {
    let world = World::new();
    coderoot(&world, &["alpha", "beta"]);
    // Case-insensitive, as devservices matches it.
    world
        .devrig()
        .named("devservices")
        .current_dir(world.home())
        .args(["list-dependencies", "BETA"])
        .stdout("beta (mode default)\n└── kv (container) — kv\n")
        .run();
    let plan = world
        .devrig()
        .current_dir(world.home())
        .args(["--json", "config"])
        .code(2)
        .run();
    assert!(
        plan.stderr.contains("no devservices/config.yml"),
        "without a name, the current directory decides: {}",
        plan.stderr
    );
}

#[test]
fn an_unknown_service_lists_the_services_found_and_where() {
    let world = World::new();
    coderoot(&world, &["alpha", "beta"]);
    world
        .devrig()
        .named("devservices")
        .current_dir(world.home())
        .args(["status", "gamma"])
        .code(2)
        .stderr_snapshot()
        .run();
}

#[test]
fn a_service_name_and_a_config_file_are_one_too_many() {
    let world = World::new();
    coderoot(&world, &["alpha"]);
    world.config(&one_redis("here"));
    world
        .devrig()
        .named("devservices")
        .args(["-c", "devservices/config.yml", "up", "alpha"])
        .code(2)
        .stderr_snapshot()
        .run();
}

#[test]
fn an_invalid_repo_under_the_coderoot_is_a_warning_and_the_others_resolve() {
    let world = World::new();
    let root = coderoot(&world, &["alpha"]);
    write(
        &root.join("broken/devservices/config.yml"),
        "x-sentry-service-config:\n  version: 0.1\n  service_name: [not, a, name]\n",
    );
    world
        .devrig()
        .named("devservices")
        .current_dir(world.home())
        .args(["list-dependencies", "alpha"])
        .stdout("alpha (mode default)\n└── kv (container) — kv\n")
        .stderr_snapshot()
        .run();
}

#[test]
fn list_services_lists_what_runs_and_all_lists_every_service_found() {
    let world = World::new();
    coderoot(&world, &["alpha", "beta"]);
    world
        .devrig()
        .named("devservices")
        .current_dir(world.home())
        .arg("list-services")
        .stdout("No services are running; `devrig list-services --all` lists every one found.\n")
        .run();
    let all = world
        .devrig()
        .current_dir(world.home())
        .args(["ls", "-a", "--json"])
        .run()
        .json();
    let names: Vec<(&str, bool)> = all
        .as_array()
        .expect("a list")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().expect("name"),
                s["running"].as_bool().expect("running"),
            )
        })
        .collect();
    assert_eq!(names, [("alpha", false), ("beta", false)]);
}

#[test]
fn debug_is_verbose() {
    let world = World::new();
    world.config(&one_redis("here"));
    // No engine answers: what comes before it is printed at -v level.
    world
        .devrig()
        .named("devservices")
        .env(
            "DOCKER_HOST",
            format!("unix://{}/none.sock", world.root().display()),
        )
        .args(["up", "--debug"])
        .code(3)
        .stderr_contains("remote dependencies cached in")
        .run();
}

#[test]
fn update_says_which_devrig_runs_and_how_to_update_it() {
    let world = World::new();
    world
        .devrig()
        .named("devservices")
        .arg("update")
        .stdout_contains(format!("devrig {} at ", env!("CARGO_PKG_VERSION")))
        .stdout_contains("(not installed by cargo)")
        .stdout_contains("To update it: in a checkout of devrig: git pull && sh install.sh")
        .run();
    // Installed as install.sh installs it: cargo's record beside bin/.
    let prefix = world.root().join("prefix");
    let bin = prefix.join("bin/devrig");
    std::fs::create_dir_all(bin.parent().expect("bin")).expect("mkdir");
    std::fs::copy(env!("CARGO_BIN_EXE_devrig"), &bin).expect("copy the binary");
    write(
        &prefix.join(".crates2.json"),
        &formatdoc! {r#"
            {{"installs":{{"devrig {version} (path+file:///src/devrig)":{{"version_req":null,"bins":["devrig"],"features":[],"all_features":false,"no_default_features":false,"profile":"release","target":"x86_64-unknown-linux-gnu","rustc":"rustc"}}}}}}
        "#, version = env!("CARGO_PKG_VERSION")},
    );
    let out = std::process::Command::new(&bin)
        .args(["--json", "update"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["installed"]["from"], "checkout");
    assert_eq!(report["installed"]["path"], "/src/devrig");
    assert_eq!(
        report["command"],
        "cd /src/devrig && git pull && sh install.sh"
    );
}

#[test]
fn each_command_has_devservices_flags_and_only_those_that_mean_something_to_it() {
    let help = |args: &[&str]| World::new().devrig().args(args).run().stdout;
    let up = help(&["up", "--help"]);
    for flag in [
        "[SERVICE]",
        "--mode",
        "--exclude-local",
        "--offline",
        "--debug",
        "--registry-mirror",
    ] {
        assert!(up.contains(flag), "up lacks {flag}:\n{up}");
    }
    let down = help(&["down", "--help"]);
    for flag in ["[SERVICE]", "--exclude-local", "--debug"] {
        assert!(down.contains(flag), "down lacks {flag}:\n{down}");
    }
    for command in ["status", "logs", "reset", "list-dependencies", "purge"] {
        let text = help(&[command, "--help"]);
        assert!(
            !text.contains("--registry-mirror"),
            "{command} pulls nothing, yet offers a mirror:\n{text}"
        );
    }
    for command in ["status", "logs", "purge", "toggle"] {
        let text = help(&[command, "--help"]);
        assert!(
            text.contains("[SERVICE"),
            "{command} takes a service:\n{text}"
        );
    }
    assert!(help(&["toggle", "--help"]).contains("--debug"));
    assert!(help(&["list-services", "--help"]).contains("-a, --all"));
    assert!(help(&["ls", "--help"]).contains("-a, --all"));
}
