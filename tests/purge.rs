//! `purge` removes every devservices container on the engine, so it runs in
//! a test binary of its own: cargo runs test binaries one after another,
//! never beside the other container tests.

mod common;

use common::legacy::{Cleanup, World, docker, require_testbed, run, unique_project};

#[test]
fn purge_removes_containers_network_cache_and_state_but_volumes_only_on_request() {
    require_testbed();
    let world = World::new();
    let project = unique_project("purge");
    let _cleanup = Cleanup(vec![project.clone()]);
    let sleep = 400_000 + std::process::id() % 50_000;
    let sleeping = || {
        std::process::Command::new("pgrep")
            .args(["-fx", &format!("sleep {sleep}")])
            .output()
            .expect("pgrep")
            .status
            .success()
    };
    world.config(&format!(
        "x-sentry-service-config:\n  version: 0.1\n  service_name: {project}\n  dependencies:\n    db:\n      description: db\n    worker:\n      description: w\n  modes:\n    default: [db, worker]\nx-programs:\n  worker:\n    command: sleep {sleep}\nservices:\n  db:\n    image: redis:7\n    command: [redis-server, --port, \"7777\"]\n    volumes: [data:/data]\n    networks: [devservices]\nvolumes:\n  data:\nnetworks:\n  devservices:\n    name: devservices\n    external: true\n"
    ));
    let (code, _, stderr) = run(&world, world.devrig_engine().arg("up"));
    assert_eq!(code, 0, "{stderr}");
    std::fs::create_dir_all(world.cache().join("some-remote")).expect("mkdir");
    let volume = format!("{project}_data");

    assert!(sleeping(), "the program runs: {stderr}");
    let (code, stdout, stderr) = run(&world, world.devrig_engine().arg("purge"));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!("Stopped worker ({project})")),
        "{stderr}"
    );
    assert!(!sleeping(), "purge stops programs");
    assert!(stdout.contains("Data volumes were kept"), "{stdout}");
    assert!(
        docker(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=com.docker.compose.project={project}")
        ])
        .is_empty()
    );
    assert!(
        docker(&["network", "ls", "-q", "--filter", "name=^devservices$"]).is_empty(),
        "network removed"
    );
    assert!(!world.cache().exists(), "dependency cache removed");
    assert!(!world.root().join("state").exists(), "state removed");
    assert_eq!(
        docker(&["volume", "ls", "-q", "--filter", &format!("name={volume}")]),
        volume,
        "volume kept"
    );

    let (code, _, stderr) = run(&world, world.devrig_engine().arg("up"));
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = run(&world, world.devrig_engine().args(["purge", "--volumes"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        docker(&["volume", "ls", "-q", "--filter", &format!("name={volume}")]).is_empty(),
        "volume removed on request"
    );
}
