//! Every config error devrig reports: its message, the file:line:col it
//! points at, the source line, the hint, and exit code 2.

mod common;

use common::legacy::{World, run};

const HEADER: &str = "x-sentry-service-config:\n  version: 0.1\n  service_name: demo\n";

/// Runs `devrig config` on `yaml`; asserts it fails as a config error and
/// returns stderr with temp paths scrubbed.
fn config_error(yaml: &str) -> String {
    let world = World::new();
    world.config(yaml);
    let (code, stdout, stderr) = run(&world, world.devrig().arg("config"));
    assert_eq!(
        code, 2,
        "expected a config error, got {code}\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert!(stdout.is_empty(), "nothing is printed on stdout: {stdout}");
    stderr
}

#[test]
fn mode_lists_an_undeclared_dependency() {
    let err = config_error(&format!(
        "{HEADER}  dependencies:\n    redis:\n      description: cache\n  modes:\n    default: [redis, postgress]\nservices:\n  redis:\n    image: redis\n"
    ));
    insta::assert_snapshot!(err, @"
    error: mode `default` lists `postgress`, which is not a declared dependency
      --> [TMP]/repo/devservices/config.yml:8:22
        |
      8 |     default: [redis, postgress]
        |                      ^
    hint: declare it under x-sentry-service-config.dependencies, or use one of: redis
    ");
}

#[test]
fn bad_duration() {
    let err = config_error(&format!(
        "{HEADER}  dependencies:\n    redis:\n      description: cache\n  modes:\n    default: [redis]\nservices:\n  redis:\n    image: redis\n    healthcheck:\n      test: redis-cli ping\n      interval: 5 seconds\n"
    ));
    insta::assert_snapshot!(err, @"
    error: services.redis.healthcheck.interval: invalid duration `5 seconds` (expected e.g. `30s`, `1m30s`, `500ms`)
      --> [TMP]/repo/devservices/config.yml:14:17
         |
      14 |       interval: 5 seconds
         |                 ^
    ");
}

#[test]
fn port_that_does_not_parse() {
    let err = config_error(&format!(
        "{HEADER}  dependencies:\n    pg:\n      description: db\n  modes:\n    default: [pg]\nservices:\n  pg:\n    image: postgres\n    ports:\n      - \"127.0.0.1:5432:99999\"\n"
    ));
    insta::assert_snapshot!(err, @r#"
    error: services.pg.ports: invalid port `127.0.0.1:5432:99999`: port 99999 is out of range 1-65535
      --> [TMP]/repo/devservices/config.yml:13:9
         |
      13 |       - "127.0.0.1:5432:99999"
         |         ^
    hint: use CONTAINER, HOST:CONTAINER or IP:HOST:CONTAINER, optionally with /tcp or /udp, e.g. "127.0.0.1:5432:5432"
    "#);
}

#[test]
fn depends_on_an_unknown_service() {
    let err = config_error(&format!(
        "{HEADER}  dependencies:\n    web:\n      description: web\n  modes:\n    default: [web]\nservices:\n  web:\n    image: nginx\n    depends_on:\n      - databse\n  db:\n    image: postgres\n"
    ));
    insta::assert_snapshot!(err, @"
    error: service `web` depends on `databse`, which is not a service in this file
      --> [TMP]/repo/devservices/config.yml:13:9
         |
      13 |       - databse
         |         ^
    hint: services here: web, db
    ");
}

#[test]
fn depends_on_cycle_is_printed() {
    let err = config_error(&format!(
        "{HEADER}  dependencies:\n    a:\n      description: a\n  modes:\n    default: [a]\nservices:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on:\n      c:\n        condition: service_healthy\n  c:\n    image: x\n    depends_on: [a]\n"
    ));
    insta::assert_snapshot!(err, @"
    error: depends_on forms a cycle: a → b → c → a
      --> [TMP]/repo/devservices/config.yml:12:18
         |
      12 |     depends_on: [b]
         |                  ^
    hint: remove one of these depends_on entries
    ");
}

#[test]
fn unsupported_version() {
    let err = config_error(
        "x-sentry-service-config:\n  version: 0.2\n  service_name: demo\n  modes:\n    default: []\n",
    );
    insta::assert_snapshot!(err, @"
    error: unsupported config version `0.2`
      --> [TMP]/repo/devservices/config.yml:2:12
        |
      2 |   version: 0.2
        |            ^
    hint: devrig reads version 0.1, as devservices does
    ");
}

#[test]
fn missing_default_mode() {
    let err = config_error(&format!(
        "{HEADER}  dependencies:\n    a:\n      description: a\n  modes:\n    full: [a]\nservices:\n  a:\n    image: x\n"
    ));
    insta::assert_snapshot!(err, @"
    error: modes has no `default` mode
      --> [TMP]/repo/devservices/config.yml:8:5
        |
      8 |     full: [a]
        |     ^
    hint: add `default: [...]`: it is what `up` starts without --mode
    ");
}

#[test]
fn malformed_yaml() {
    let err = config_error(&format!(
        "{HEADER}  modes:\n    default: [a, b\n  other: 1\n"
    ));
    insta::assert_snapshot!(err, @"
    error: invalid YAML: illegal placement of ':' indicator
      --> [TMP]/repo/devservices/config.yml:6:8
        |
      6 |   other: 1
        |        ^
    ");
}

#[test]
fn unknown_key_in_a_dependency() {
    let err = config_error(&format!(
        "{HEADER}  dependencies:\n    a:\n      description: a\n      remtoe:\n        repo_name: a\n  modes:\n    default: [a]\nservices:\n  a:\n    image: x\n"
    ));
    insta::assert_snapshot!(err, @"
    error: unknown key `remtoe` in dependency `a`
      --> [TMP]/repo/devservices/config.yml:7:7
        |
      7 |       remtoe:
        |       ^
    hint: allowed keys: description, remote
    ");
}

#[test]
fn local_dependency_without_service_or_program() {
    let err = config_error(&format!(
        "{HEADER}  dependencies:\n    worker:\n      description: a worker\n  modes:\n    default: [worker]\n"
    ));
    insta::assert_snapshot!(err, @"
    error: dependency `worker` is not remote, and there is no service or program called `worker`
      --> [TMP]/repo/devservices/config.yml:5:5
        |
      5 |     worker:
        |     ^
    hint: add `worker` under `services:` or `x-programs:`, or give the dependency a `remote:` block
    ");
}

#[test]
fn remote_missing_a_field() {
    let err = config_error(&format!(
        "{HEADER}  dependencies:\n    snuba:\n      description: s\n      remote:\n        repo_name: snuba\n        branch: master\n  modes:\n    default: [snuba]\n"
    ));
    insta::assert_snapshot!(err, @"
    error: dependency `snuba`.remote is missing `repo_link`
      --> [TMP]/repo/devservices/config.yml:8:9
        |
      8 |         repo_name: snuba
        |         ^
    hint: a remote needs repo_name, branch and repo_link (mode defaults to `default`)
    ");
}

#[test]
fn required_variable_missing() {
    let err = config_error(&format!(
        "{HEADER}  dependencies:\n    a:\n      description: a\n  modes:\n    default: [a]\nservices:\n  a:\n    image: \"postgres:${{PG_VERSION:?set PG_VERSION to 14 or 16}}\"\n"
    ));
    insta::assert_snapshot!(err, @r#"
    error: required variable PG_VERSION is missing a value: set PG_VERSION to 14 or 16
      --> [TMP]/repo/devservices/config.yml:11:22
         |
      11 |     image: "postgres:${PG_VERSION:?set PG_VERSION to 14 or 16}"
         |                      ^
    hint: set the variable, give it a default with ${NAME:-default}, or write $$ for a literal $
    "#);
}

#[test]
fn alias_bomb_is_refused_quickly() {
    let mut yaml = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    let mut prev = "a".to_owned();
    for i in 0..12 {
        let name = format!("l{i}");
        yaml.push_str(&format!("{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        prev = name;
    }
    let started = std::time::Instant::now();
    let err = config_error(&yaml);
    assert!(err.contains("expands to more than"), "{err}");
    assert!(err.contains("alias bomb"), "{err}");
    // Bounded work: the budget stops expansion long before 10^13 nodes.
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn not_a_devservices_config() {
    let err = config_error("services:\n  a:\n    image: x\n");
    insta::assert_snapshot!(err, @"
    error: this is not a devservices config: `x-sentry-service-config` is missing
      --> [TMP]/repo/devservices/config.yml:1:1
        |
      1 | services:
        | ^
    hint: add an `x-sentry-service-config:` block with version, service_name, dependencies and modes (see `devrig init`)
    ");
}

#[test]
fn missing_config_file() {
    let world = World::new();
    let (code, _, stderr) = run(&world, world.devrig().arg("config"));
    assert_eq!(code, 2);
    insta::assert_snapshot!(stderr, @r"
    error: no devservices/config.yml in [TMP]/repo or any parent directory
    hint: run devrig inside a repo that has one, pass -c PATH, or create one with `devrig init`
    ");
}

#[test]
fn unknown_mode() {
    let world = World::new();
    world.config(&format!(
        "{HEADER}  dependencies:\n    a:\n      description: a\n  modes:\n    default: [a]\n    lite: []\nservices:\n  a:\n    image: x\n"
    ));
    let (code, _, stderr) = run(&world, world.devrig().args(["config", "--mode", "ful"]));
    assert_eq!(code, 2);
    insta::assert_snapshot!(stderr, @r"
    error: mode `ful` does not exist for service `demo`
    hint: modes of `demo`: default, lite
    ");
}

#[test]
fn duplicate_key() {
    let err = config_error(&format!(
        "{HEADER}  dependencies:\n    a:\n      description: a\n  modes:\n    default: [a]\nservices:\n  a:\n    image: x\n    image: y\n"
    ));
    insta::assert_snapshot!(err, @"
    error: duplicate key `image` (first defined at line 11)
      --> [TMP]/repo/devservices/config.yml:12:5
         |
      12 |     image: y
         |     ^
    hint: remove one of the two; compose refuses duplicate keys too
    ");
}
