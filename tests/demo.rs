//! The starter config `devrig init` writes (the project's own demo stack)
//! comes up for real on the testbed: postgres, redis, kafka, clickhouse, and
//! snuba once clickhouse and kafka are healthy. Its own test binary, because
//! the templates publish fixed host ports (5432, 9092, …).

mod common;

use common::legacy::{Cleanup, World, docker, require_testbed, run, unique_project, wait_for};
use std::time::Duration;

#[test]
fn init_output_comes_up_healthy_with_snuba_last() {
    require_testbed();
    let world = World::new();
    let project = unique_project("demo");
    let _cleanup = Cleanup(vec![project.clone()]);
    let (code, _, stderr) = run(
        &world,
        world.devrig().args(["init", "--force", "--name", &project]),
    );
    assert_eq!(code, 0, "{stderr}");

    let (code, _, stderr) = run(&world, world.devrig_engine().arg("up"));
    assert_eq!(code, 0, "{stderr}");
    let position = |needle: String| {
        stderr
            .find(&needle)
            .unwrap_or_else(|| panic!("no `{needle}` in:\n{stderr}"))
    };
    let snuba_created = position(format!("Created {project}-snuba-1"));
    for dep in ["clickhouse", "kafka"] {
        assert!(
            position(format!("Ready {project}-{dep}-1")) < snuba_created,
            "snuba waited for {dep}:\n{stderr}"
        );
    }
    let (code, stdout, _) = run(&world, world.devrig_engine().args(["status", "--json"]));
    assert_eq!(code, 0);
    let status: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let rows = status["containers"].as_array().expect("containers");
    assert_eq!(rows.len(), 5);
    for row in rows {
        assert_eq!(row["state"], "running", "{row}");
    }
    // The example worker runs beside them, on the host, talking to redis.
    let programs = status["programs"].as_array().expect("programs");
    assert_eq!(programs.len(), 1, "{status}");
    assert_eq!(programs[0]["name"], "worker");
    assert_eq!(programs[0]["state"], "running", "{status}");
    wait_for("the worker to reach redis", Duration::from_secs(10), || {
        world
            .program_log(&project, "worker")
            .contains("redis says +PONG")
    });
    let (code, table, _) = run(&world, world.devrig_engine().arg("status"));
    assert_eq!(code, 0);
    assert!(table.contains(&format!("{project}-snuba-1")), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("worker") && l.contains("running")),
        "{table}"
    );
    // snuba's stand-in answers /health only when clickhouse and kafka do.
    let health = std::process::Command::new("curl")
        .args(["-sf", "http://127.0.0.1:1218/health"])
        .output()
        .expect("curl");
    assert!(
        health.status.success(),
        "{}",
        String::from_utf8_lossy(&health.stdout)
    );

    let (code, _, stderr) = run(&world, world.devrig_engine().arg("down"));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("Stopped worker"), "{stderr}");
    assert_eq!(
        docker(&[
            "inspect",
            "--format",
            "{{.State.Status}}",
            &format!("{project}-snuba-1")
        ]),
        "exited"
    );
}
