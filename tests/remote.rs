//! Remote dependencies in real git repositories over `file://`: fetching,
//! caching, refreshing, and every way it can go wrong.

mod common;

use common::{World, formatdoc, git, indoc, wait_for, write};
use std::path::Path;
use std::time::Duration;

/// A root config with one remote dependency on `<remotes>/<repo>.git`.
fn root_with_remote(repo: &str, branch: &str) -> String {
    formatdoc! {"
        x-sentry-service-config:
          version: 0.1
          service_name: app
          dependencies:
            {repo}:
              description: shared {repo}
              remote:
                repo_name: {repo}
                branch: {branch}
                repo_link: file://{{remotes}}/{repo}.git
          modes:
            default: [{repo}]
    "}
}

/// A repo whose one service `service_name` runs `image`.
fn leaf_config(service_name: &str, image: &str) -> String {
    formatdoc! {"
        x-sentry-service-config:
          version: 0.1
          service_name: {service_name}
          dependencies:
            {service_name}:
              description: leaf
          modes:
            default: [{service_name}]
        services:
          {service_name}:
            image: {image}
    "}
}

/// A root depending on remote `redis`, whose cached copy says `redis:6`.
fn cache_redis_6(world: &World) {
    world.remote_config("redis", &leaf_config("redis", "redis:6"));
    world.config(&root_with_remote("redis", "main"));
    assert_eq!(image_of(world, "redis", "redis"), "redis:6");
}

/// A new commit on remote `redis`: its service runs `redis:7`.
fn update_redis_to_7(world: &World) {
    world.update_remote(
        "redis",
        "devservices/config.yml",
        &leaf_config("redis", "redis:7"),
    );
}

fn dir_size(path: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(path).expect("read dir") {
        let entry = entry.expect("entry");
        let meta = entry.metadata().expect("metadata");
        total += if meta.is_dir() {
            dir_size(&entry.path())
        } else {
            meta.len()
        };
    }
    total
}

/// The image of `project`'s `service` in the plan `config --json` prints.
fn image_of(world: &World, project: &str, service: &str) -> String {
    let plan = world.devrig().args(["config", "--json"]).run().json();
    plan["projects"][project]["services"][service]["image"]
        .as_str()
        .expect("image")
        .to_owned()
}

#[test]
fn fetch_is_shallow_sparse_and_skips_big_blobs() {
    let world = World::new();
    // A repo whose history and files outside devservices/ are large.
    world.remote_from("big", |work| {
        write(
            &work.join("devservices/config.yml"),
            &leaf_config("big", "redis:7"),
        );
        git(work, &["init", "-q", "-b", "main"]);
        for i in 0..40 {
            write(
                &work.join(format!("src/history-{}.txt", i % 5)),
                &format!("revision {i}\n").repeat(2000),
            );
            git(work, &["add", "-A"]);
            git(work, &["commit", "-q", "-m", &format!("history {i}")]);
        }
        // 200 MiB of incompressible data in the last commit.
        let mut chunk = vec![0u8; 10 << 20];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        for f in 0..20 {
            for byte in chunk.iter_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *byte = state as u8;
            }
            std::fs::write(work.join(format!("assets-{f}.bin")), &chunk).expect("write blob");
        }
    });
    world.config(&root_with_remote("big", "main"));
    let bare_size = dir_size(&world.remotes().join("big.git"));
    assert!(
        bare_size > 200 << 20,
        "the remote holds the big blobs ({bare_size} bytes)"
    );

    world.devrig().arg("config").run();
    let checkout = world.cache().join("big");
    assert!(checkout.join("devservices/config.yml").is_file());
    assert!(
        !checkout.join("assets-0.bin").exists(),
        "only devservices/ is checked out"
    );
    let size = dir_size(&checkout);
    assert!(
        size < 2 << 20,
        "the cached checkout stays under 2 MB, it is {size} bytes"
    );
    let shallow = std::fs::read_to_string(checkout.join(".git/shallow")).expect("shallow clone");
    assert_eq!(shallow.lines().count(), 1, "one commit of history");
}

#[test]
fn cached_copy_is_used_without_network_and_refresh_updates_it() {
    let world = World::new();
    cache_redis_6(&world);

    update_redis_to_7(&world);
    assert_eq!(
        image_of(&world, "redis", "redis"),
        "redis:6",
        "read commands use the cache as it is"
    );

    world.devrig().args(["config", "--refresh"]).run();
    assert_eq!(
        image_of(&world, "redis", "redis"),
        "redis:7",
        "--refresh fetched the new commit"
    );

    // The remote disappears: the cache still serves, --offline too.
    std::fs::remove_dir_all(world.remotes().join("redis.git")).expect("remove remote");
    assert_eq!(image_of(&world, "redis", "redis"), "redis:7");
    world.devrig().args(["config", "--offline"]).run();

    // A refresh that fails falls back to the cached copy with one warning.
    let out = world
        .devrig()
        .args(["config", "--refresh"])
        .stderr_contains("could not refresh `redis` (branch `main`)")
        .stderr_contains("using the cached copy")
        .run();
    assert_eq!(out.stderr.matches("warning:").count(), 1, "{}", out.stderr);
}

#[test]
fn offline_without_a_cached_copy_says_what_to_do() {
    let world = World::new();
    world.config(&root_with_remote("redis", "main"));
    world
        .devrig()
        .args(["config", "--offline"])
        .code(2)
        .stderr(indoc! {"
            error: `redis` is not cached and --offline forbids fetching it
              --> [TMP]/repo/devservices/config.yml:8:9
                |
              8 |         repo_name: redis
                |         ^
            hint: run once without --offline to fetch it
        "})
        .run();
}

#[test]
fn fetch_failure_names_repo_branch_url_and_git_error() {
    let world = World::new();
    world.remote_config("redis", &leaf_config("redis", "redis:7"));
    world.config(&root_with_remote("redis", "no-such-branch"));
    world
        .devrig()
        .arg("config")
        .code(1)
        .stderr_contains("error: cannot fetch `redis` (branch `no-such-branch`) from file://[TMP]/remotes/redis.git")
        // git's own stderr is shown.
        .stderr_contains("git: ")
        .stderr_contains("no-such-branch not found in upstream origin")
        .stderr_contains("hint: check that branch `no-such-branch` exists")
        .run();
    assert!(
        !world.cache().join("redis").exists(),
        "a failed fetch leaves nothing behind"
    );

    let world = World::new();
    world.config(&root_with_remote("ghost", "main"));
    world
        .devrig()
        .arg("config")
        .code(1)
        .stderr_contains("cannot fetch `ghost` (branch `main`)")
        .stderr_contains("does not appear to be a git repository")
        .run();
}

#[test]
fn invalid_remote_config_points_into_the_cached_copy() {
    let world = World::new();
    world.remote_config(
        "redis",
        &leaf_config("redis", "redis:7").replace("version: 0.1", "version: 0.3"),
    );
    world.config(&root_with_remote("redis", "main"));
    world
        .devrig()
        .arg("config")
        .code(2)
        .stderr(indoc! {"
            error: in remote `redis` (branch `main`): unsupported config version `0.3`
              --> [TMP]/cache/redis/devservices/config.yml:2:12
                |
              2 |   version: 0.3
                |            ^
            hint: devrig reads version 0.1, as devservices does
        "})
        .run();
}

#[test]
fn remote_mode_that_does_not_exist() {
    let world = World::new();
    world.remote_config("redis", &leaf_config("redis", "redis:7"));
    world.config(
        &root_with_remote("redis", "main")
            .replace("branch: main", "branch: main\n        mode: clustered"),
    );
    world
        .devrig()
        .arg("config")
        .code(2)
        .stderr_contains("error: mode `clustered` does not exist for service `redis`")
        .stderr_contains("--> [TMP]/repo/devservices/config.yml:8:9")
        .stderr_contains("hint: modes of `redis`: default")
        .run();
}

#[test]
fn cycle_across_repos_is_printed() {
    let world = World::new();
    // app → lib → app
    world.remote_config(
        "lib",
        &root_with_remote("app", "main").replace("service_name: app", "service_name: lib"),
    );
    world.remote_config("app", &root_with_remote("lib", "main"));
    world.config(&root_with_remote("lib", "main"));
    world
        .devrig()
        .arg("config")
        .code(2)
        .stderr(indoc! {"
            error: remote dependencies form a cycle: app → lib → app
            hint: a repo cannot depend on itself through its remotes; remove one of these dependencies
        "})
        .run();
}

/// Dependencies `a` and `b`, both named `kafka`, from `<remotes>/<a>` and
/// `<remotes>/<b>`.
fn two_kafkas(a: &str, b: &str) -> String {
    formatdoc! {"
        x-sentry-service-config:
          version: 0.1
          service_name: app
          dependencies:
            a:
              description: a
              remote:
                repo_name: kafka
                branch: main
                repo_link: file://{{remotes}}/{a}
            b:
              description: b
              remote:
                repo_name: kafka
                branch: main
                repo_link: file://{{remotes}}/{b}
          modes:
            default: [a, b]
    "}
}

#[test]
fn one_repo_name_for_two_repositories_is_an_error() {
    let world = World::new();
    world.remote_config("kafka", &leaf_config("kafka", "kafka"));
    world.remote_config("other", &leaf_config("kafka", "kafka"));
    world.config(&two_kafkas("kafka.git", "other.git"));
    world
        .devrig()
        .arg("config")
        .code(2)
        .stderr_contains("error: `kafka` names two different repositories: file://[TMP]/remotes/kafka.git and file://[TMP]/remotes/other.git")
        // The second place, then the first.
        .stderr_contains("config.yml:14:9")
        .stderr_contains("first declared here:")
        .stderr_contains("config.yml:8:9")
        .run();
}

#[test]
fn same_repo_through_different_url_spellings_is_one_node() {
    let world = World::new();
    world.remote_config("kafka", &leaf_config("kafka", "kafka"));
    world.config(&two_kafkas("kafka.git", "kafka.git/"));
    let plan = world.devrig().args(["config", "--json"]).run().json();
    assert_eq!(plan["start_order"], serde_json::json!([["kafka/kafka"]]));
}

#[test]
fn local_changes_in_the_cache_are_never_overwritten() {
    let world = World::new();
    cache_redis_6(&world);
    let cached = world.cache().join("redis/devservices/config.yml");
    std::fs::write(&cached, leaf_config("redis", "redis:local-edit")).expect("edit");
    update_redis_to_7(&world);

    world
        .devrig()
        .args(["config", "--refresh"])
        .code(2)
        .stderr_contains(
            "error: the cached checkout of `redis` at [TMP]/cache/redis has local changes",
        )
        .stderr_contains("devrig never overwrites them")
        .run();
    assert_eq!(
        std::fs::read_to_string(&cached).expect("read"),
        leaf_config("redis", "redis:local-edit"),
        "the edit is still there"
    );
}

#[test]
fn nested_remotes_resolve_recursively() {
    let world = World::new();
    world.all_fixture_remotes().fixture_repo("remotes/snuba");
    let plan = world
        .devrig()
        .args(["config", "--json", "--mode", "containerized"])
        .run()
        .json();
    let projects: Vec<&String> = plan["projects"]
        .as_object()
        .expect("projects")
        .keys()
        .collect();
    assert_eq!(projects, ["snuba", "clickhouse", "kafka", "redis"]);
    for repo in ["clickhouse", "kafka", "redis"] {
        assert!(
            world
                .cache()
                .join(repo)
                .join("devservices/config.yml")
                .is_file(),
            "{repo} fetched"
        );
    }
}

#[test]
fn two_repos_publishing_one_port_conflict_at_plan_time() {
    let world = World::new();
    let pg = |name: &str| {
        formatdoc! {"
            x-sentry-service-config:
              version: 0.1
              service_name: {name}
              dependencies:
                postgres:
                  description: db
              modes:
                default: [postgres]
            services:
              postgres:
                image: postgres:14
                ports:
                  - 127.0.0.1:5432:5432
        "}
    };
    world.remote_config("one", &pg("one"));
    world.remote_config("two", &pg("two"));
    world.config(indoc! {r#"
        x-sentry-service-config:
          version: 0.1
          service_name: app
          dependencies:
            one:
              description: one
              remote: {repo_name: one, branch: main, repo_link: "file://{remotes}/one.git"}
            two:
              description: two
              remote: {repo_name: two, branch: main, repo_link: "file://{remotes}/two.git"}
          modes:
            default: [one, two]
    "#});
    let expected = "host port 127.0.0.1:5432/tcp is claimed by one/postgres (repo one) and two/postgres (repo two)";
    // config only warns.
    let plan = world
        .devrig()
        .args(["config", "--json"])
        .stderr_contains(format!("warning: {expected}"))
        .stderr_contains("[TMP]/cache/one/devservices/config.yml:13:9")
        .stderr_contains("[TMP]/cache/two/devservices/config.yml:13:9")
        .run()
        .json();
    assert_eq!(plan["conflicts"][0], expected);

    // `up` refuses before it connects to any engine or creates anything.
    world
        .devrig()
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .arg("up")
        .code(2)
        .stderr_contains(format!("error: {expected}"))
        .stderr_contains("also claimed by one/postgres (repo one):")
        .stderr_contains("hint: use the shared dependency")
        .run();
}

#[test]
fn one_container_name_twice_conflicts() {
    let world = World::new();
    world.config(indoc! {"
        x-sentry-service-config:
          version: 0.1
          service_name: app
          dependencies:
            a: {description: a}
            b: {description: b}
          modes:
            default: [a, b]
        services:
          a:
            image: x
            container_name: shared-name
          b:
            image: x
            container_name: shared-name
    "});
    world
        .devrig()
        .arg("config")
        .stderr_contains("warning: container name `shared-name` is claimed by app/a (repo local) and app/b (repo local)")
        .run();
}

#[test]
fn a_refresh_interrupted_between_its_renames_is_undone() {
    let world = World::new();
    cache_redis_6(&world);
    // What a kill -9 between "old copy aside" and "new copy in place" leaves.
    std::fs::rename(
        world.cache().join("redis"),
        world.cache().join(".redis.previous"),
    )
    .expect("rename");
    // The previous copy is put back.
    world.devrig().args(["config", "--offline"]).run();
    assert!(world.cache().join("redis/devservices/config.yml").is_file());
    assert!(!world.cache().join(".redis.previous").exists());

    // A refresh swaps a complete new copy in and leaves nothing aside.
    update_redis_to_7(&world);
    world.devrig().args(["config", "--refresh"]).run();
    assert_eq!(image_of(&world, "redis", "redis"), "redis:7");
    let leftovers: Vec<String> = std::fs::read_dir(world.cache())
        .expect("cache")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".previous") || n.ends_with(".fetching"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_program_and_a_container_on_one_port_conflict() {
    let world = World::new();
    world.config(indoc! {r#"
        x-sentry-service-config:
          version: 0.1
          service_name: app
          dependencies:
            web: {description: web}
            devserver: {description: dev server}
          modes:
            default: [web, devserver]
        x-programs:
          devserver:
            command: sentry devserver
            ports: ["127.0.0.1:8000"]
        services:
          web:
            image: nginx
            ports: ["8000:80"]
    "#});
    world
        .devrig()
        .arg("config")
        .stderr_contains("warning: host port 127.0.0.1:8000/tcp is claimed by app/web (repo local) and app/devserver (repo local)")
        // The container's port, then the program's.
        .stderr_contains("config.yml:16:13 and")
        .stderr_contains("config.yml:12:13;")
        .run();

    world.config(indoc! {r#"
        x-sentry-service-config:
          version: 0.1
          service_name: app
          dependencies:
            devserver: {description: dev server}
          modes:
            default: [devserver]
        x-programs:
          devserver:
            command: sentry devserver
            ports: ["localhost:http"]
    "#});
    world
        .devrig()
        .arg("config")
        .code(2)
        .stderr_contains("program `devserver`.ports: `localhost:http` is not a port")
        .run();
}

#[test]
fn concurrent_refreshes_of_one_remote_are_serialized() {
    let world = World::new();
    cache_redis_6(&world);
    update_redis_to_7(&world);
    let refreshes: Vec<_> = (0..3)
        .map(|_| world.spawn(["config", "--refresh"]))
        .collect();
    for refresh in refreshes {
        let (status, _, stderr) = refresh.wait();
        assert!(status.success(), "{stderr}");
        assert!(
            !stderr.contains("warning"),
            "no refresh fell over another: {stderr}"
        );
    }
    assert_eq!(image_of(&world, "redis", "redis"), "redis:7");
}

#[test]
fn a_refresh_killed_half_way_leaves_the_previous_copy_usable() {
    let world = World::new();
    cache_redis_6(&world);
    update_redis_to_7(&world);

    // A git that finishes the clone, says so, and then holds on until it is
    // released (30 s at the most): devrig is killed while the new copy is
    // half-made beside the old one.
    let real_git = which::which("git").expect("git");
    let bin = world.root().join("slow-bin");
    let (cloned, release, done) = (
        world.root().join("cloned"),
        world.root().join("release"),
        world.root().join("done"),
    );
    write(
        &bin.join("git"),
        &formatdoc! {r#"
            #!/bin/sh
            "{git}" "$@"; status=$?
            if [ "$1" = clone ]; then
              touch "{cloned}"
              i=0
              while [ ! -e "{release}" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
              touch "{done}"
            fi
            exit $status
        "#,
            git = real_git.display(),
            cloned = cloned.display(),
            release = release.display(),
            done = done.display(),
        },
    );
    std::fs::set_permissions(
        bin.join("git"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = world.command();
    cmd.env("PATH", path).args(["config", "--refresh"]);
    let refresh = common::Spawned::start(cmd);
    wait_for("the clone", Duration::from_secs(20), || cloned.exists());
    let staging = world.cache().join(".redis.fetching");
    assert!(staging.join(".git").exists(), "the new copy is half-made");
    refresh.kill();

    assert_eq!(
        image_of(&world, "redis", "redis"),
        "redis:6",
        "the previous copy is intact"
    );
    // The orphaned git finishes before the next refresh.
    write(&release, "");
    wait_for("the orphaned git", Duration::from_secs(20), || {
        done.exists()
    });
    world.devrig().args(["config", "--refresh"]).run();
    assert_eq!(
        image_of(&world, "redis", "redis"),
        "redis:7",
        "the next refresh completes"
    );
    assert!(!staging.exists(), "the half-made copy is gone");
}
