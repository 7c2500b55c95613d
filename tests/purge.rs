//! `purge` removes every devservices container on the engine, so it runs in
//! a test binary of its own (cargo runs test binaries one after another,
//! never beside the other container tests of this run), on the test bed's
//! second engine: other runs' tests share the default one.

mod common;

use common::{TCP_ENGINE, World, devservices_config, formatdoc, marker, sleeping};

#[test]
fn purge_removes_containers_network_cache_and_state_but_volumes_only_on_request() {
    let world = World::engine_alone("purge", TCP_ENGINE);
    let project = world.project();
    let sleep = marker();
    world.config(&devservices_config(
        project,
        &formatdoc! {r#"
        x-programs:
          worker:
            command: sleep {sleep}
        services:
          db:
            image: redis:7
            command: [redis-server, --port, "7777"]
            volumes: [data:/data]
            networks: [devservices]
        volumes:
          data:
        networks:
          devservices:
            name: devservices
            external: true
    "#},
    ));
    world.devrig().arg("up").run();
    std::fs::create_dir_all(world.cache().join("some-remote")).expect("mkdir");
    // `devenv sync`'s record lives in the same data directory, and is not
    // devservices' state: a purge must not make every step run again.
    let sync_record = world.state_dir().join("sync/record.json");
    std::fs::create_dir_all(sync_record.parent().expect("dir")).expect("mkdir");
    std::fs::write(&sync_record, "{}").expect("write");
    let volume = format!("{project}_data");
    let volumes = || world.docker(&["volume", "ls", "-q", "--filter", &format!("name={volume}")]);

    assert_eq!(sleeping(&sleep).len(), 1, "the program runs");
    world
        .devrig()
        .arg("purge")
        .stderr_contains(format!("Stopped worker ({project})"))
        .stdout_contains("Data volumes were kept")
        .run();
    assert!(sleeping(&sleep).is_empty(), "purge stops programs");
    let filter = format!("label=com.docker.compose.project={project}");
    assert!(world.docker(&["ps", "-aq", "--filter", &filter]).is_empty());
    assert!(
        world
            .docker(&["network", "ls", "-q", "--filter", "name=^devservices$"])
            .is_empty(),
        "network removed"
    );
    assert!(!world.cache().exists(), "dependency cache removed");
    assert!(
        !world.state_dir().join("state.json").exists(),
        "state removed"
    );
    assert!(sync_record.exists(), "sync's record kept");
    assert_eq!(volumes(), volume, "volume kept");

    world.devrig().arg("up").run();
    // Deleting data is asked for; without a terminal to ask on, --yes says so.
    world
        .devrig()
        .args(["purge", "--volumes"])
        .code(2)
        .stderr_contains("refusing to delete data without confirmation")
        .run();
    assert_eq!(volumes(), volume, "nothing deleted unasked");
    world.devrig().args(["purge", "--volumes", "--yes"]).run();
    assert!(volumes().is_empty(), "volume removed on request");
}
