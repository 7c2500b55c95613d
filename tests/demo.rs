//! The starter config `devrig init` writes (the project's own demo stack)
//! comes up for real on the testbed: postgres, redis, kafka, clickhouse, and
//! snuba once clickhouse and kafka are healthy. Its own test binary, because
//! the templates publish fixed host ports (5432, 9092, …).

mod common;

use common::{World, container_state, wait_for};
use std::time::Duration;

#[test]
fn init_output_comes_up_healthy_with_snuba_last() {
    let world = World::engine("demo");
    let project = world.project();
    world
        .devrig()
        .args(["init", "--force", "--name", project])
        .run();

    let up = world.devrig().arg("up").run();
    let snuba_created = up.stderr_at(&format!("Created {project}-snuba-1"));
    for dep in ["clickhouse", "kafka"] {
        assert!(
            up.stderr_at(&format!("Ready {project}-{dep}-1")) < snuba_created,
            "snuba waited for {dep}:\n{}",
            up.stderr
        );
    }
    let status = world.status();
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
        world.program_log("worker").contains("redis says +PONG")
    });
    let table = world
        .devrig()
        .arg("status")
        .stdout_contains(format!("{project}-snuba-1"))
        .run()
        .stdout;
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

    world
        .devrig()
        .arg("down")
        .stderr_contains("Stopped worker")
        .run();
    assert_eq!(container_state(&format!("{project}-snuba-1")), "exited");
}
