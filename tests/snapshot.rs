//! `snapshot` against the real engine and the test bed's real PostgreSQL
//! and Redis: rows and keys written, saved, changed, restored and read
//! back; Ctrl-C during a save; an archive carried through `purge`; the
//! refusals (another PostgreSQL major, a volume another repo's container
//! uses); copy-on-write on the test bed's xfs engine and plain copies on
//! the default one.

mod common;

use common::{TCP_ENGINE, World, XFS_ENGINE, devservices_config, formatdoc, git};

/// PostgreSQL and Redis from the test bed's images, without host ports
/// (tests run beside each other and beside a developer's own stack).
/// `postgres` is its image: `postgres:14` is the test bed's PostgreSQL 15,
/// `postgres:17` its 17.
fn stack(project: &str, postgres: &str) -> String {
    devservices_config(
        project,
        &formatdoc! {r#"
        services:
          postgres:
            image: {postgres}
            environment:
              POSTGRES_HOST_AUTH_METHOD: trust
            healthcheck:
              # Over TCP: the entrypoint's initdb server listens on its socket only.
              test: pg_isready -h 127.0.0.1 -U postgres
              interval: 30s
            volumes: [postgres-data:/var/lib/postgresql/data]
          redis:
            image: redis:7
            command: [redis-server, --appendonly, "yes"]
            healthcheck:
              test: redis-cli ping | grep -q PONG
              interval: 30s
            volumes: [redis-data:/data]
        volumes:
          postgres-data:
          redis-data:
    "#},
    )
}

fn container(world: &World, service: &str) -> String {
    format!("{}-{service}-1", world.project())
}

/// Runs `sql` in the world's PostgreSQL; its rows, unaligned.
fn psql(world: &World, sql: &str) -> String {
    world.docker(&[
        "exec",
        &container(world, "postgres"),
        "psql",
        "-U",
        "postgres",
        "-v",
        "ON_ERROR_STOP=1",
        "-tAc",
        sql,
    ])
}

fn redis(world: &World, args: &[&str]) -> String {
    let name = container(world, "redis");
    let mut all = vec!["exec", name.as_str(), "redis-cli"];
    all.extend(args);
    world.docker(&all)
}

/// 500 rows in PostgreSQL, three keys of three types in Redis.
fn write_data(world: &World) {
    psql(
        world,
        "CREATE TABLE items (id int PRIMARY KEY, name text); \
         INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 500) g;",
    );
    redis(world, &["SET", "greeting", "hello"]);
    redis(world, &["RPUSH", "queue", "a", "b", "c"]);
    redis(world, &["HSET", "user", "name", "ada", "lang", "rust"]);
}

/// Every row and every key, to compare whole.
fn data(world: &World) -> (String, String) {
    let rows = psql(
        world,
        "SELECT string_agg(id || ':' || name, ',' ORDER BY id) FROM items; \
         SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public';",
    );
    let mut keys: Vec<String> = redis(world, &["KEYS", "*"])
        .lines()
        .map(str::to_owned)
        .collect();
    keys.sort();
    let keys = format!(
        "{keys:?} greeting={} queue={} user={}",
        redis(world, &["GET", "greeting"]),
        redis(world, &["LRANGE", "queue", "0", "-1"]).replace('\n', ","),
        redis(world, &["HGETALL", "user"]).replace('\n', ","),
    );
    (rows, keys)
}

/// Deletes, changes and adds rows and keys.
fn change_data(world: &World) {
    psql(
        world,
        "DELETE FROM items WHERE id > 100; UPDATE items SET name = 'changed' WHERE id = 1; \
         INSERT INTO items VALUES (9999, 'new'); CREATE TABLE later (x int);",
    );
    redis(world, &["DEL", "greeting"]);
    redis(world, &["RPUSH", "queue", "d"]);
    redis(world, &["SET", "extra", "1"]);
}

/// Both containers run and answer what their healthchecks ask.
#[track_caller]
fn assert_ready(world: &World) {
    for service in ["postgres", "redis"] {
        assert_eq!(
            world.docker(&[
                "inspect",
                "--format",
                "{{.State.Status}}",
                &container(world, service)
            ]),
            "running",
            "{service} runs"
        );
    }
    let pg = world.docker(&[
        "exec",
        &container(world, "postgres"),
        "pg_isready",
        "-h",
        "127.0.0.1",
        "-U",
        "postgres",
    ]);
    assert!(pg.contains("accepting connections"), "postgres: {pg}");
    assert_eq!(redis(world, &["PING"]), "PONG");
}

/// When the container's current run started (it changes with a restart).
fn started_at(world: &World, service: &str) -> String {
    world.docker(&[
        "inspect",
        "--format",
        "{{.Id}} {{.State.StartedAt}}",
        &container(world, service),
    ])
}

/// `reflink` where the engine's data root can clone files, `copy` elsewhere.
fn expected_method(world: &World) -> &'static str {
    let status = world.docker(&["info", "--format", "{{json .DriverStatus}}"]);
    if status.contains(r#"["Backing Filesystem","xfs"]"#)
        || status.contains(r#"["Backing Filesystem","btrfs"]"#)
    {
        "reflink"
    } else {
        "copy"
    }
}

/// The snapshot volumes of the world's repo on its engine.
fn snapshot_volumes(world: &World) -> String {
    world.docker(&[
        "volume",
        "ls",
        "-q",
        "--filter",
        &format!("label=devrig.snapshot.repo={}", world.project()),
    ])
}

/// `world` with its stack (PostgreSQL from `postgres`) up and data written.
fn running(world: World, postgres: &str) -> World {
    world.config(&stack(world.project(), postgres));
    world.devrig().arg("up").run();
    write_data(&world);
    world
}

/// `snapshot restore NAME` after the data changed is refused with `code`
/// and the error snapshot `snapshot`, and changes nothing: no container
/// stopped, no row restored.
#[track_caller]
fn assert_refused(world: &World, name: &str, code: i32, snapshot: &str) {
    change_data(world);
    let changed = data(world);
    let before = started_at(world, "postgres");
    let out = world
        .devrig()
        .args(["snapshot", "restore", name])
        .code(code)
        .run();
    let _filters = world.snapshot_settings().bind_to_scope();
    insta::assert_snapshot!(snapshot, error_part(&out.stderr));
    assert_eq!(started_at(world, "postgres"), before, "nothing was stopped");
    assert_eq!(data(world), changed, "nothing was restored");
}

/// The part of stderr from `error:` on.
fn error_part(stderr: &str) -> &str {
    &stderr[stderr.find("error:").expect("an error")..]
}

#[test]
fn restore_brings_back_exactly_the_saved_rows_and_keys_and_the_stack_is_ready_after_each() {
    let world = World::engine("snap");
    world.config(&stack(world.project(), "postgres:14"));
    git(&world.repo(), &["init", "-q", "-b", "main"]);
    git(&world.repo(), &["add", "-A"]);
    git(&world.repo(), &["commit", "-q", "-m", "config"]);
    world.devrig().arg("up").run();
    write_data(&world);
    let saved = data(&world);
    assert!(saved.0.starts_with("1:item 1,2:item 2,"), "{saved:?}");

    let method = expected_method(&world);
    world
        .devrig()
        .args(["snapshot", "save", "migrated"])
        .stderr_contains(format!(
            "Stopped {} (saving snapshot migrated)",
            container(&world, "postgres")
        ))
        .stderr_contains(format!("{}_postgres-data (", world.project()))
        .stderr_contains(format!(", {method}, "))
        .stderr_contains(format!("Ready {}", container(&world, "postgres")))
        .stderr_contains(format!("Ready {}", container(&world, "redis")))
        .run();
    assert_ready(&world);
    assert_eq!(data(&world), saved, "saving changes nothing");

    let listed = world
        .devrig()
        .args(["snapshot", "list", "--json"])
        .run()
        .json();
    let snapshot = &listed["snapshots"][0];
    assert_eq!(snapshot["name"], "migrated");
    assert_eq!(snapshot["repo"], world.project());
    assert_eq!(snapshot["mode"], "default");
    let project = world.project();
    assert_eq!(
        snapshot["services"],
        serde_json::json!([format!("{project}/postgres"), format!("{project}/redis")])
    );
    let volumes: Vec<&str> = snapshot["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .map(|v| v["volume"].as_str().expect("a name"))
        .collect();
    assert_eq!(
        volumes,
        [
            format!("{project}_postgres-data"),
            format!("{project}_redis-data")
        ]
    );
    assert_eq!(snapshot["volumes"][0]["postgres"], "15", "PG_VERSION read");
    assert_eq!(snapshot["volumes"][1]["postgres"], serde_json::Value::Null);
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(world.repo())
        .output()
        .expect("git");
    assert_eq!(
        snapshot["commit"],
        String::from_utf8_lossy(&head.stdout).trim()
    );
    let sum = std::process::Command::new("sha256sum")
        .arg(world.repo().join("devservices/config.yml"))
        .output()
        .expect("sha256sum");
    assert_eq!(
        snapshot["config_hash"],
        String::from_utf8_lossy(&sum.stdout)[..12]
    );
    assert!(listed["incomplete"].as_array().expect("list").is_empty());
    // The table names it too.
    world
        .devrig()
        .args(["snapshot", "list"])
        .stdout_contains("migrated")
        .stdout_contains("postgres,redis")
        .run();

    change_data(&world);
    assert_ne!(data(&world), saved);
    world
        .devrig()
        .args(["snapshot", "restore", "migrated"])
        .stderr_contains(format!(", {method}, "))
        .stderr_contains(format!("Ready {}", container(&world, "postgres")))
        .stderr_contains(format!("Ready {}", container(&world, "redis")))
        .run();
    assert_ready(&world);
    assert_eq!(data(&world), saved, "exactly the saved rows and keys");

    // Restored twice, the same: the snapshot is not used up.
    change_data(&world);
    let report = world
        .devrig()
        .args(["snapshot", "restore", "migrated", "--json"])
        .run()
        .json();
    assert_ready(&world);
    assert_eq!(data(&world), saved);
    let copies = report["copies"].as_array().expect("copies");
    assert_eq!(copies.len(), 2);
    for copy in copies {
        assert_eq!(copy["method"], method, "{copy}");
        assert!(copy["bytes"].as_u64().expect("bytes") > 0, "{copy}");
    }
    assert_eq!(
        report["started"],
        serde_json::json!([container(&world, "postgres"), container(&world, "redis")])
    );
}

#[test]
fn ctrl_c_during_a_save_leaves_the_stack_running_and_no_snapshot() {
    let world = running(World::engine("snapint"), "postgres:14");
    // A copy that takes long enough to be interrupted: a gigabyte file in
    // the data directory, which PostgreSQL leaves alone.
    world.docker(&[
        "exec",
        &container(&world, "postgres"),
        "dd",
        "if=/dev/zero",
        "of=/var/lib/postgresql/data/ballast",
        "bs=1M",
        "count=1024",
    ]);
    let saved = data(&world);

    let save = world.spawn(["snapshot", "save", "big"]);
    let copying = format!("Saving {}_postgres-data", world.project());
    save.wait_for_stderr("the copy to begin", |e| e.contains(&copying));
    save.signal(libc::SIGINT);
    let (status, _, stderr) = save.wait();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("no snapshot was saved, and the stack is back as it was"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(&format!("Saved {}_postgres-data", world.project())),
        "the copy was cut short: {stderr}"
    );

    assert_ready(&world);
    assert_eq!(data(&world), saved);
    let listed = world
        .devrig()
        .args(["snapshot", "list", "--json"])
        .run()
        .json();
    assert_eq!(listed["snapshots"], serde_json::json!([]));
    assert_eq!(listed["incomplete"], serde_json::json!([]));
    assert_eq!(snapshot_volumes(&world), "", "no partial copy is left");
    assert_eq!(
        world.docker(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=devrig.snapshot.helper={}", world.project())
        ]),
        "",
        "no helper container is left"
    );
}

/// `purge` removes every devservices container of its engine: on the
/// test bed's second engine, which no other test of this binary uses.
#[test]
fn an_exported_snapshot_survives_purge_and_import_restore_brings_the_rows_back() {
    let world = running(World::engine_at("snapexp", TCP_ENGINE), "postgres:14");
    let saved = data(&world);
    world.devrig().args(["snapshot", "save", "migrated"]).run();
    let archive = world.root().join("migrated.tar.zst");
    let archive_arg = archive.display().to_string();
    world
        .devrig()
        .args(["snapshot", "export", "migrated", &archive_arg])
        .stderr_contains("Wrote [TMP]/migrated.tar.zst")
        .run();
    assert!(archive.is_file());
    assert!(
        !world.root().join("migrated.tar.zst.partial").exists(),
        "written through a partial file, renamed"
    );

    world
        .devrig()
        .args(["purge", "--volumes", "--snapshots", "--yes"])
        .stderr_contains(format!("Removed snapshot migrated of {}", world.project()))
        .run();
    let volumes = world.docker(&[
        "volume",
        "ls",
        "-q",
        "--filter",
        &format!("label=com.docker.compose.project={}", world.project()),
    ]);
    assert_eq!(volumes, "", "the data is gone");
    assert_eq!(snapshot_volumes(&world), "", "and so is the snapshot");
    world
        .devrig()
        .args(["snapshot", "list"])
        .stdout_contains("No snapshots")
        .run();

    let imported = world
        .devrig()
        .args(["snapshot", "import", &archive_arg, "--json"])
        .run()
        .json();
    assert_eq!(imported["snapshot"]["name"], "migrated");
    assert_eq!(imported["snapshot"]["volumes"][0]["postgres"], "15");
    assert!(imported["snapshot"]["size"].as_u64().expect("size") > 0);
    // Its containers are gone with the purge: restored, they start with `up`.
    world
        .devrig()
        .args(["snapshot", "restore", "migrated"])
        .stderr_contains(format!("Created volume {}_postgres-data", world.project()))
        .stdout_contains("`devrig up` starts them with the restored data")
        .run();
    world.devrig().arg("up").run();
    assert_ready(&world);
    assert_eq!(data(&world), saved, "the same rows and keys");

    // Importing it again under the same name is refused, or replaces it.
    let out = world
        .devrig()
        .args(["snapshot", "import", &archive_arg])
        .code(2)
        .run();
    let _filters = world.snapshot_settings().bind_to_scope();
    insta::assert_snapshot!("snapshot__import_exists", error_part(&out.stderr));
    world
        .devrig()
        .args(["snapshot", "import", &archive_arg, "--force"])
        .run();
    let listed = world
        .devrig()
        .args(["snapshot", "list", "--json"])
        .run()
        .json();
    assert_eq!(listed["snapshots"].as_array().expect("list").len(), 1);
}

#[test]
fn a_snapshot_of_another_postgres_major_is_refused_and_nothing_changes() {
    let world = running(World::engine("snapmajor"), "postgres:14");
    world.devrig().args(["snapshot", "save", "pg15"]).run();
    // The service moves to PostgreSQL 17; the snapshot holds 15's data.
    world.config(&stack(world.project(), "postgres:17"));
    assert_refused(&world, "pg15", 1, "snapshot__postgres_major_mismatch");
}

#[test]
fn restore_is_refused_while_another_repos_container_uses_the_volume() {
    let world = running(World::engine("snapuse"), "postgres:14");
    world.devrig().args(["snapshot", "save", "shared"]).run();

    // Another repo mounts this repo's postgres volume (as an external one).
    let other = world.other_project("snapuse-b");
    let other_config = world.root().join("other/devservices/config.yml");
    common::write(
        &other_config,
        &devservices_config(
            &other,
            &formatdoc! {r#"
            services:
              reader:
                image: redis:7
                command: [redis-server, --port, "7778", --save, ""]
                volumes: [theirs:/shared:ro]
            volumes:
              theirs:
                external: true
                name: {project}_postgres-data
        "#, project = world.project()},
        ),
    );
    let other_arg = other_config.display().to_string();
    world.devrig().args(["-c", &other_arg, "up"]).run();
    assert_refused(&world, "shared", 1, "snapshot__volume_in_use");

    // Once it is stopped, the restore goes ahead.
    let changed = data(&world);
    world.devrig().args(["-c", &other_arg, "down"]).run();
    world.devrig().args(["snapshot", "restore", "shared"]).run();
    assert_ne!(data(&world), changed);
}

#[test]
fn a_paused_save_keeps_the_containers_running_and_restores_the_same() {
    let world = running(World::engine("snappause"), "postgres:14");
    let saved = data(&world);
    let before = (started_at(&world, "postgres"), started_at(&world, "redis"));
    world
        .devrig()
        .args(["snapshot", "save", "frozen", "--pause"])
        .stderr_contains(format!("Paused {}", container(&world, "postgres")))
        .stderr_contains(format!("Unpaused {}", container(&world, "postgres")))
        .stderr_lacks("Stopped")
        .run();
    assert_eq!(
        (started_at(&world, "postgres"), started_at(&world, "redis")),
        before,
        "not restarted"
    );
    assert_ready(&world);
    change_data(&world);
    world.devrig().args(["snapshot", "restore", "frozen"]).run();
    assert_eq!(data(&world), saved);
}

#[test]
fn services_narrow_what_is_saved_and_restored_and_rm_deletes_only_the_snapshot() {
    let world = running(World::engine("snapsel"), "postgres:14");
    let saved = data(&world);
    let report = world
        .devrig()
        .args(["snapshot", "save", "cache", "redis", "--json"])
        .stderr_lacks(format!("Stopped {}", container(&world, "postgres")))
        .run()
        .json();
    assert_eq!(
        report["snapshot"]["services"],
        serde_json::json!([format!("{}/redis", world.project())])
    );
    change_data(&world);
    let postgres = started_at(&world, "postgres");

    // Restoring it touches Redis alone.
    world.devrig().args(["snapshot", "restore", "cache"]).run();
    assert_eq!(data(&world).1, saved.1, "the keys are back");
    assert_ne!(data(&world).0, saved.0, "the rows are not");
    assert_eq!(
        started_at(&world, "postgres"),
        postgres,
        "postgres untouched"
    );
    // Asked for postgres only, it has nothing to give.
    let out = world
        .devrig()
        .args(["snapshot", "restore", "cache", "postgres"])
        .code(2)
        .run();
    let _filters = world.snapshot_settings().bind_to_scope();
    insta::assert_snapshot!("snapshot__nothing_to_restore", error_part(&out.stderr));

    // A plan without Redis any more: its volume is said to be unused.
    world.config(&devservices_config(
        world.project(),
        &formatdoc! {r#"
        services:
          postgres:
            image: postgres:14
            environment:
              POSTGRES_HOST_AUTH_METHOD: trust
            volumes: [postgres-data:/var/lib/postgresql/data]
        volumes:
          postgres-data:
    "#},
    ));
    world
        .devrig()
        .args(["snapshot", "restore", "cache"])
        .code(2)
        .stderr_contains(format!(
            "warning: the snapshot's volume {}_redis-data is used by no service of this plan; not restored",
            world.project()
        ))
        .run();

    world
        .devrig()
        .args(["snapshot", "rm", "cache"])
        .stderr_contains("Removed snapshot cache (2 volumes)")
        .run();
    assert_eq!(snapshot_volumes(&world), "");
    for volume in ["postgres-data", "redis-data"] {
        let name = format!("{}_{volume}", world.project());
        assert_eq!(
            world.docker(&["volume", "ls", "-q", "--filter", &format!("name={name}")]),
            name,
            "rm deletes nothing else"
        );
    }
    let out = world
        .devrig()
        .args(["snapshot", "rm", "cache"])
        .code(2)
        .run();
    insta::assert_snapshot!("snapshot__rm_unknown", error_part(&out.stderr));
}

#[test]
fn on_an_xfs_data_root_save_and_restore_are_copy_on_write() {
    let world = running(World::engine_at("snapxfs", XFS_ENGINE), "postgres:14");
    let saved = data(&world);
    // Helpers from images that declare `VOLUME`s get anonymous volumes;
    // none may be left behind. (No other test uses this engine.)
    let dangling = || {
        let all = world.docker(&["volume", "ls", "-q", "--filter", "dangling=true"]);
        let anonymous = |v: &&str| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit());
        all.lines().filter(anonymous).count()
    };
    let before = dangling();
    let report = world
        .devrig()
        .args(["snapshot", "save", "cow", "--json"])
        .run()
        .json();
    for copy in report["copies"].as_array().expect("copies") {
        assert_eq!(copy["method"], "reflink", "{copy}");
    }
    change_data(&world);
    let report = world
        .devrig()
        .args(["snapshot", "restore", "cow", "--json"])
        .run()
        .json();
    for copy in report["copies"].as_array().expect("copies") {
        assert_eq!(copy["method"], "reflink", "{copy}");
    }
    assert_ready(&world);
    assert_eq!(data(&world), saved);
    assert_eq!(dangling(), before, "no volume left by a helper");
}

#[test]
fn names_and_archives_are_checked_before_the_engine_is_asked() {
    let world = World::new();
    world.config(&stack("app", "postgres:14"));
    let out = world
        .devrig()
        .args(["snapshot", "save", "bad/name"])
        .env("DOCKER_HOST", "unix:///nonexistent.sock")
        .code(2)
        .run();
    let _filters = world.snapshot_settings().bind_to_scope();
    insta::assert_snapshot!("snapshot__bad_name", out.stderr);
    world.file("not-an-archive.tar.zst", "hello");
    let out = world
        .devrig()
        .args(["snapshot", "import", "not-an-archive.tar.zst"])
        .env("DOCKER_HOST", "unix:///nonexistent.sock")
        .code(1)
        .run();
    insta::assert_snapshot!("snapshot__not_an_archive", out.stderr);
}
