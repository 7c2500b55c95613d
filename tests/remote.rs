//! Remote dependencies in real git repositories over `file://`: fetching,
//! caching, refreshing, and every way it can go wrong.

mod common;

use common::legacy::{World, git, run};
use std::path::Path;

/// A root config with one remote dependency on `<remotes>/<repo>.git`.
fn root_with_remote(repo: &str, branch: &str) -> String {
    format!(
        "x-sentry-service-config:\n  version: 0.1\n  service_name: app\n  dependencies:\n    {repo}:\n      description: shared {repo}\n      remote:\n        repo_name: {repo}\n        branch: {branch}\n        repo_link: file://{{remotes}}/{repo}.git\n  modes:\n    default: [{repo}]\n"
    )
}

fn leaf_config(service_name: &str, image: &str) -> String {
    format!(
        "x-sentry-service-config:\n  version: 0.1\n  service_name: {service_name}\n  dependencies:\n    {service_name}:\n      description: leaf\n  modes:\n    default: [{service_name}]\nservices:\n  {service_name}:\n    image: {image}\n"
    )
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

/// A root depending on remote `redis`, whose cached copy says `redis:6`.
fn cache_redis_6(world: &World) {
    world.remote_from("redis", |w| {
        write(
            &w.join("devservices/config.yml"),
            &leaf_config("redis", "redis:6"),
        )
    });
    world.config(&root_with_remote("redis", "main"));
    assert_eq!(image_of(world, "redis", "redis"), "redis:6");
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

fn image_of(world: &World, project: &str, service: &str) -> String {
    let (code, stdout, stderr) = run(world, world.devrig().args(["config", "--json"]));
    assert_eq!(code, 0, "{stderr}");
    let plan: serde_json::Value = serde_json::from_str(&stdout).expect("json");
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

    let (code, _, stderr) = run(&world, world.devrig().arg("config"));
    assert_eq!(code, 0, "{stderr}");
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

    world.update_remote(
        "redis",
        "devservices/config.yml",
        &leaf_config("redis", "redis:7"),
    );
    assert_eq!(
        image_of(&world, "redis", "redis"),
        "redis:6",
        "read commands use the cache as it is"
    );

    let (code, _, stderr) = run(&world, world.devrig().args(["config", "--refresh"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        image_of(&world, "redis", "redis"),
        "redis:7",
        "--refresh fetched the new commit"
    );

    // The remote disappears: the cache still serves, --offline too.
    std::fs::remove_dir_all(world.remotes().join("redis.git")).expect("remove remote");
    assert_eq!(image_of(&world, "redis", "redis"), "redis:7");
    let (code, _, stderr) = run(&world, world.devrig().args(["config", "--offline"]));
    assert_eq!(code, 0, "{stderr}");

    // A refresh that fails falls back to the cached copy with one warning.
    let (code, _, stderr) = run(&world, world.devrig().args(["config", "--refresh"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr.matches("warning:").count(), 1, "{stderr}");
    assert!(
        stderr.contains("could not refresh `redis` (branch `main`)"),
        "{stderr}"
    );
    assert!(stderr.contains("using the cached copy"), "{stderr}");
}

#[test]
fn offline_without_a_cached_copy_says_what_to_do() {
    let world = World::new();
    world.config(&root_with_remote("redis", "main"));
    let (code, _, stderr) = run(&world, world.devrig().args(["config", "--offline"]));
    assert_eq!(code, 2);
    insta::assert_snapshot!(stderr, @"
    error: `redis` is not cached and --offline forbids fetching it
      --> [TMP]/repo/devservices/config.yml:8:9
        |
      8 |         repo_name: redis
        |         ^
    hint: run once without --offline to fetch it
    ");
}

#[test]
fn fetch_failure_names_repo_branch_url_and_git_error() {
    let world = World::new();
    world.remote_from("redis", |w| {
        write(
            &w.join("devservices/config.yml"),
            &leaf_config("redis", "redis:7"),
        )
    });
    world.config(&root_with_remote("redis", "no-such-branch"));
    let (code, _, stderr) = run(&world, world.devrig().arg("config"));
    assert_eq!(code, 1);
    assert!(stderr.contains("error: cannot fetch `redis` (branch `no-such-branch`) from file://[TMP]/remotes/redis.git"), "{stderr}");
    assert!(
        stderr.contains("git: "),
        "git's own stderr is shown: {stderr}"
    );
    assert!(
        stderr.contains("no-such-branch not found in upstream origin"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: check that branch `no-such-branch` exists"),
        "{stderr}"
    );
    assert!(
        !world.cache().join("redis").exists(),
        "a failed fetch leaves nothing behind"
    );

    let world = World::new();
    world.config(&root_with_remote("ghost", "main"));
    let (code, _, stderr) = run(&world, world.devrig().arg("config"));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("cannot fetch `ghost` (branch `main`)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("does not appear to be a git repository"),
        "{stderr}"
    );
}

#[test]
fn invalid_remote_config_points_into_the_cached_copy() {
    let world = World::new();
    world.remote_from("redis", |w| {
        write(
            &w.join("devservices/config.yml"),
            &leaf_config("redis", "redis:7").replace("version: 0.1", "version: 0.3"),
        )
    });
    world.config(&root_with_remote("redis", "main"));
    let (code, _, stderr) = run(&world, world.devrig().arg("config"));
    assert_eq!(code, 2);
    insta::assert_snapshot!(stderr, @"
    error: in remote `redis` (branch `main`): unsupported config version `0.3`
      --> [TMP]/cache/redis/devservices/config.yml:2:12
        |
      2 |   version: 0.3
        |            ^
    hint: devrig reads version 0.1, as devservices does
    ");
}

#[test]
fn remote_mode_that_does_not_exist() {
    let world = World::new();
    world.remote_from("redis", |w| {
        write(
            &w.join("devservices/config.yml"),
            &leaf_config("redis", "redis:7"),
        )
    });
    world.config(
        &root_with_remote("redis", "main")
            .replace("branch: main", "branch: main\n        mode: clustered"),
    );
    let (code, _, stderr) = run(&world, world.devrig().arg("config"));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("error: mode `clustered` does not exist for service `redis`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("--> [TMP]/repo/devservices/config.yml:8:9"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: modes of `redis`: default"),
        "{stderr}"
    );
}

#[test]
fn cycle_across_repos_is_printed() {
    let world = World::new();
    // app → lib → app
    world.remote_from("lib", |w| {
        write(
            &w.join("devservices/config.yml"),
            &world.expand(
                &root_with_remote("app", "main").replace("service_name: app", "service_name: lib"),
            ),
        )
    });
    world.remote_from("app", |w| {
        write(
            &w.join("devservices/config.yml"),
            &world.expand(&root_with_remote("lib", "main")),
        )
    });
    world.config(&root_with_remote("lib", "main"));
    let (code, _, stderr) = run(&world, world.devrig().arg("config"));
    assert_eq!(code, 2);
    insta::assert_snapshot!(stderr, @r"
    error: remote dependencies form a cycle: app → lib → app
    hint: a repo cannot depend on itself through its remotes; remove one of these dependencies
    ");
}

#[test]
fn one_repo_name_for_two_repositories_is_an_error() {
    let world = World::new();
    world.remote_from("kafka", |w| {
        write(
            &w.join("devservices/config.yml"),
            &leaf_config("kafka", "kafka"),
        )
    });
    world.remote_from("other", |w| {
        write(
            &w.join("devservices/config.yml"),
            &leaf_config("kafka", "kafka"),
        )
    });
    world.config(
        "x-sentry-service-config:\n  version: 0.1\n  service_name: app\n  dependencies:\n    a:\n      description: a\n      remote:\n        repo_name: kafka\n        branch: main\n        repo_link: file://{remotes}/kafka.git\n    b:\n      description: b\n      remote:\n        repo_name: kafka\n        branch: main\n        repo_link: file://{remotes}/other.git\n  modes:\n    default: [a, b]\n",
    );
    let (code, _, stderr) = run(&world, world.devrig().arg("config"));
    assert_eq!(code, 2);
    assert!(stderr.contains("error: `kafka` names two different repositories: file://[TMP]/remotes/kafka.git and file://[TMP]/remotes/other.git"), "{stderr}");
    assert!(
        stderr.contains("config.yml:14:9"),
        "the second place: {stderr}"
    );
    assert!(stderr.contains("first declared here:"), "{stderr}");
    assert!(
        stderr.contains("config.yml:8:9"),
        "the first place: {stderr}"
    );
}

#[test]
fn same_repo_through_different_url_spellings_is_one_node() {
    let world = World::new();
    world.remote_from("kafka", |w| {
        write(
            &w.join("devservices/config.yml"),
            &leaf_config("kafka", "kafka"),
        )
    });
    world.config(
        "x-sentry-service-config:\n  version: 0.1\n  service_name: app\n  dependencies:\n    a:\n      description: a\n      remote:\n        repo_name: kafka\n        branch: main\n        repo_link: file://{remotes}/kafka.git\n    b:\n      description: b\n      remote:\n        repo_name: kafka\n        branch: main\n        repo_link: file://{remotes}/kafka.git/\n  modes:\n    default: [a, b]\n",
    );
    let (code, stdout, stderr) = run(&world, world.devrig().args(["config", "--json"]));
    assert_eq!(code, 0, "{stderr}");
    let plan: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(plan["start_order"], serde_json::json!([["kafka/kafka"]]));
}

#[test]
fn local_changes_in_the_cache_are_never_overwritten() {
    let world = World::new();
    cache_redis_6(&world);
    let cached = world.cache().join("redis/devservices/config.yml");
    std::fs::write(&cached, leaf_config("redis", "redis:local-edit")).expect("edit");
    world.update_remote(
        "redis",
        "devservices/config.yml",
        &leaf_config("redis", "redis:7"),
    );

    let (code, _, stderr) = run(&world, world.devrig().args(["config", "--refresh"]));
    assert_eq!(code, 2);
    assert!(
        stderr.contains(
            "error: the cached checkout of `redis` at [TMP]/cache/redis has local changes"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("devrig never overwrites them"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&cached).expect("read"),
        leaf_config("redis", "redis:local-edit"),
        "the edit is still there"
    );
}

#[test]
fn nested_remotes_resolve_recursively() {
    let world = World::new();
    world.all_fixture_remotes();
    world.fixture_repo("remotes/snuba");
    let (code, stdout, stderr) = run(
        &world,
        world
            .devrig()
            .args(["config", "--json", "--mode", "containerized"]),
    );
    assert_eq!(code, 0, "{stderr}");
    let plan: serde_json::Value = serde_json::from_str(&stdout).expect("json");
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
        format!(
            "x-sentry-service-config:\n  version: 0.1\n  service_name: {name}\n  dependencies:\n    postgres:\n      description: db\n  modes:\n    default: [postgres]\nservices:\n  postgres:\n    image: postgres:14\n    ports:\n      - 127.0.0.1:5432:5432\n"
        )
    };
    world.remote_from("one", |w| {
        write(&w.join("devservices/config.yml"), &pg("one"))
    });
    world.remote_from("two", |w| {
        write(&w.join("devservices/config.yml"), &pg("two"))
    });
    world.config(
        "x-sentry-service-config:\n  version: 0.1\n  service_name: app\n  dependencies:\n    one:\n      description: one\n      remote: {repo_name: one, branch: main, repo_link: \"file://{remotes}/one.git\"}\n    two:\n      description: two\n      remote: {repo_name: two, branch: main, repo_link: \"file://{remotes}/two.git\"}\n  modes:\n    default: [one, two]\n",
    );
    let (code, stdout, stderr) = run(&world, world.devrig().args(["config", "--json"]));
    assert_eq!(code, 0, "config only warns: {stderr}");
    let expected = "host port 127.0.0.1:5432/tcp is claimed by one/postgres (repo one) and two/postgres (repo two)";
    assert!(stderr.contains(&format!("warning: {expected}")), "{stderr}");
    assert!(
        stderr.contains("[TMP]/cache/one/devservices/config.yml:13:9"),
        "{stderr}"
    );
    assert!(
        stderr.contains("[TMP]/cache/two/devservices/config.yml:13:9"),
        "{stderr}"
    );
    let plan: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(plan["conflicts"][0], expected);

    // `up` refuses before it connects to any engine or creates anything.
    let mut cmd = world.devrig();
    cmd.env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    let (code, _, stderr) = run(&world, cmd.arg("up"));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(&format!("error: {expected}")), "{stderr}");
    assert!(
        stderr.contains("also claimed by one/postgres (repo one):"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: use the shared dependency"),
        "{stderr}"
    );
}

#[test]
fn one_container_name_twice_conflicts() {
    let world = World::new();
    world.config(
        "x-sentry-service-config:\n  version: 0.1\n  service_name: app\n  dependencies:\n    a: {description: a}\n    b: {description: b}\n  modes:\n    default: [a, b]\nservices:\n  a:\n    image: x\n    container_name: shared-name\n  b:\n    image: x\n    container_name: shared-name\n",
    );
    let (code, _, stderr) = run(&world, world.devrig().arg("config"));
    assert_eq!(code, 0);
    assert!(
        stderr.contains("warning: container name `shared-name` is claimed by app/a (repo local) and app/b (repo local)"),
        "{stderr}"
    );
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
    let (code, _, stderr) = run(&world, world.devrig().args(["config", "--offline"]));
    assert_eq!(code, 0, "the previous copy is put back: {stderr}");
    assert!(world.cache().join("redis/devservices/config.yml").is_file());
    assert!(!world.cache().join(".redis.previous").exists());

    // A refresh swaps a complete new copy in and leaves nothing aside.
    world.update_remote(
        "redis",
        "devservices/config.yml",
        &leaf_config("redis", "redis:7"),
    );
    let (code, _, stderr) = run(&world, world.devrig().args(["config", "--refresh"]));
    assert_eq!(code, 0, "{stderr}");
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
    world.config(
        "x-sentry-service-config:\n  version: 0.1\n  service_name: app\n  dependencies:\n    web: {description: web}\n    devserver: {description: dev server}\n  modes:\n    default: [web, devserver]\nx-programs:\n  devserver:\n    command: sentry devserver\n    ports: [\"127.0.0.1:8000\"]\nservices:\n  web:\n    image: nginx\n    ports: [\"8000:80\"]\n",
    );
    let (code, _, stderr) = run(&world, world.devrig().arg("config"));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("warning: host port 127.0.0.1:8000/tcp is claimed by app/web (repo local) and app/devserver (repo local)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("config.yml:16:13 and"),
        "the container's port: {stderr}"
    );
    assert!(
        stderr.contains("config.yml:12:13;"),
        "the program's port: {stderr}"
    );

    world.config(
        "x-sentry-service-config:\n  version: 0.1\n  service_name: app\n  dependencies:\n    devserver: {description: dev server}\n  modes:\n    default: [devserver]\nx-programs:\n  devserver:\n    command: sentry devserver\n    ports: [\"localhost:http\"]\n",
    );
    let (code, _, stderr) = run(&world, world.devrig().arg("config"));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("program `devserver`.ports: `localhost:http` is not a port"),
        "{stderr}"
    );
}

#[test]
fn concurrent_refreshes_of_one_remote_are_serialized() {
    let world = World::new();
    cache_redis_6(&world);
    world.update_remote(
        "redis",
        "devservices/config.yml",
        &leaf_config("redis", "redis:7"),
    );
    let children: Vec<_> = (0..3)
        .map(|_| {
            world
                .std_command(&assert_cmd::cargo::cargo_bin("devrig"))
                .args(["config", "--refresh"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("devrig starts")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("devrig exits");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
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
    world.update_remote(
        "redis",
        "devservices/config.yml",
        &leaf_config("redis", "redis:7"),
    );

    // A git that finishes the clone, then lingers: devrig is killed while the
    // new copy is half-made beside the old one.
    let real_git = which::which("git").expect("git");
    let bin = world.root().join("slow-bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let wrapper = bin.join("git");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n\"{}\" \"$@\"; status=$?\nif [ \"$1\" = clone ]; then sleep 3; fi\nexit $status\n",
            real_git.display()
        ),
    )
    .expect("wrapper");
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = world
        .std_command(&assert_cmd::cargo::cargo_bin("devrig"))
        .env("PATH", path)
        .args(["config", "--refresh"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("devrig starts");
    let staging = world.cache().join(".redis.fetching");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !staging.join(".git").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the clone never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().expect("kill -9 devrig");
    let _ = child.wait();

    assert_eq!(
        image_of(&world, "redis", "redis"),
        "redis:6",
        "the previous copy is intact"
    );
    // Let the orphaned git finish its pause before the next refresh.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let (code, _, stderr) = run(&world, world.devrig().args(["config", "--refresh"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        image_of(&world, "redis", "redis"),
        "redis:7",
        "the next refresh completes"
    );
    assert!(!staging.exists(), "the half-made copy is gone");
}
