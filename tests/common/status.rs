//! Reading `status --json`: a program's entry, the supervisor's pid, and
//! the schema README documents, which every answer must follow.

use super::World;
use serde_json::Value;

/// The program `name` in a `status --json`.
#[track_caller]
pub fn program<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["programs"]
        .as_array()
        .expect("programs")
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no program {name} in {status}"))
}

/// The running supervisor's pid, from `status`.
#[track_caller]
pub fn supervisor_pid(world: &World) -> i64 {
    world.status()["supervisor_pid"]
        .as_i64()
        .expect("a supervisor runs")
}

/// `status --json` must validate against schemas/status.schema.json.
#[track_caller]
pub fn assert_status_schema(status: &Value) {
    let schema: Value =
        serde_json::from_str(include_str!("../../schemas/status.schema.json")).expect("schema");
    let validator = jsonschema::validator_for(&schema).expect("a valid schema");
    let errors: Vec<String> = validator
        .iter_errors(status)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\nin {status:#}");
}
