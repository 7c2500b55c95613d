//! Every config error devrig reports: its message, the file:line:col it
//! points at, the source line, the hint, and exit code 2.

mod common;

use common::{Test, indoc};

/// `devrig config` on `yaml` fails as a config error: exit 2, nothing on
/// stdout, and `stderr` exactly.
fn config_error(yaml: &str, stderr: &str) {
    Test::new()
        .config(yaml)
        .arg("config")
        .code(2)
        .stdout("")
        .stderr(stderr)
        .run();
}

#[test]
fn mode_lists_an_undeclared_dependency() {
    config_error(
        indoc! {"
            x-sentry-service-config:
              version: 0.1
              service_name: demo
              dependencies:
                redis:
                  description: cache
              modes:
                default: [redis, postgress]
            services:
              redis:
                image: redis
        "},
        indoc! {"
            error: mode `default` lists `postgress`, which is not a declared dependency
              --> [TMP]/repo/devservices/config.yml:8:22
                |
              8 |     default: [redis, postgress]
                |                      ^
            hint: declare it under x-sentry-service-config.dependencies, or use one of: redis
        "},
    );
}

#[test]
fn bad_duration() {
    config_error(
        indoc! {"
            x-sentry-service-config:
              version: 0.1
              service_name: demo
              dependencies:
                redis:
                  description: cache
              modes:
                default: [redis]
            services:
              redis:
                image: redis
                healthcheck:
                  test: redis-cli ping
                  interval: 5 seconds
        "},
        indoc! {"
            error: services.redis.healthcheck.interval: invalid duration `5 seconds` (expected e.g. `30s`, `1m30s`, `500ms`)
              --> [TMP]/repo/devservices/config.yml:14:17
                 |
              14 |       interval: 5 seconds
                 |                 ^
        "},
    );
}

#[test]
fn port_that_does_not_parse() {
    config_error(
        indoc! {r#"
            x-sentry-service-config:
              version: 0.1
              service_name: demo
              dependencies:
                pg:
                  description: db
              modes:
                default: [pg]
            services:
              pg:
                image: postgres
                ports:
                  - "127.0.0.1:5432:99999"
        "#},
        indoc! {r#"
            error: services.pg.ports: invalid port `127.0.0.1:5432:99999`: port 99999 is out of range 1-65535
              --> [TMP]/repo/devservices/config.yml:13:9
                 |
              13 |       - "127.0.0.1:5432:99999"
                 |         ^
            hint: use CONTAINER, HOST:CONTAINER or IP:HOST:CONTAINER, optionally with /tcp or /udp, e.g. "127.0.0.1:5432:5432"
        "#},
    );
}

#[test]
fn depends_on_an_unknown_service() {
    config_error(
        indoc! {"
            x-sentry-service-config:
              version: 0.1
              service_name: demo
              dependencies:
                web:
                  description: web
              modes:
                default: [web]
            services:
              web:
                image: nginx
                depends_on:
                  - databse
              db:
                image: postgres
        "},
        indoc! {"
            error: service `web` depends on `databse`, which is not a service in this file
              --> [TMP]/repo/devservices/config.yml:13:9
                 |
              13 |       - databse
                 |         ^
            hint: services here: web, db
        "},
    );
}

#[test]
fn depends_on_cycle_is_printed() {
    config_error(
        indoc! {"
            x-sentry-service-config:
              version: 0.1
              service_name: demo
              dependencies:
                a:
                  description: a
              modes:
                default: [a]
            services:
              a:
                image: x
                depends_on: [b]
              b:
                image: x
                depends_on:
                  c:
                    condition: service_healthy
              c:
                image: x
                depends_on: [a]
        "},
        indoc! {"
            error: depends_on forms a cycle: a → b → c → a
              --> [TMP]/repo/devservices/config.yml:12:18
                 |
              12 |     depends_on: [b]
                 |                  ^
            hint: remove one of these depends_on entries
        "},
    );
}

#[test]
fn unsupported_version() {
    config_error(
        indoc! {"
            x-sentry-service-config:
              version: 0.2
              service_name: demo
              modes:
                default: []
        "},
        indoc! {"
            error: unsupported config version `0.2`
              --> [TMP]/repo/devservices/config.yml:2:12
                |
              2 |   version: 0.2
                |            ^
            hint: devrig reads version 0.1, as devservices does
        "},
    );
}

#[test]
fn missing_default_mode() {
    config_error(
        indoc! {"
            x-sentry-service-config:
              version: 0.1
              service_name: demo
              dependencies:
                a:
                  description: a
              modes:
                full: [a]
            services:
              a:
                image: x
        "},
        indoc! {"
            error: modes has no `default` mode
              --> [TMP]/repo/devservices/config.yml:8:5
                |
              8 |     full: [a]
                |     ^
            hint: add `default: [...]`: it is what `up` starts without --mode
        "},
    );
}

#[test]
fn malformed_yaml() {
    config_error(
        indoc! {"
            x-sentry-service-config:
              version: 0.1
              service_name: demo
              modes:
                default: [a, b
              other: 1
        "},
        indoc! {"
            error: invalid YAML: illegal placement of ':' indicator
              --> [TMP]/repo/devservices/config.yml:6:8
                |
              6 |   other: 1
                |        ^
        "},
    );
}

#[test]
fn unknown_key_in_a_dependency() {
    config_error(
        indoc! {"
            x-sentry-service-config:
              version: 0.1
              service_name: demo
              dependencies:
                a:
                  description: a
                  remtoe:
                    repo_name: a
              modes:
                default: [a]
            services:
              a:
                image: x
        "},
        indoc! {"
            error: unknown key `remtoe` in dependency `a`
              --> [TMP]/repo/devservices/config.yml:7:7
                |
              7 |       remtoe:
                |       ^
            hint: allowed keys: description, remote
        "},
    );
}

#[test]
fn local_dependency_without_service_or_program() {
    config_error(
        indoc! {"
            x-sentry-service-config:
              version: 0.1
              service_name: demo
              dependencies:
                worker:
                  description: a worker
              modes:
                default: [worker]
        "},
        indoc! {"
            error: dependency `worker` is not remote, and there is no service or program called `worker`
              --> [TMP]/repo/devservices/config.yml:5:5
                |
              5 |     worker:
                |     ^
            hint: add `worker` under `services:` or `x-programs:`, or give the dependency a `remote:` block
        "},
    );
}

#[test]
fn remote_missing_a_field() {
    config_error(
        indoc! {"
            x-sentry-service-config:
              version: 0.1
              service_name: demo
              dependencies:
                snuba:
                  description: s
                  remote:
                    repo_name: snuba
                    branch: master
              modes:
                default: [snuba]
        "},
        indoc! {"
            error: dependency `snuba`.remote is missing `repo_link`
              --> [TMP]/repo/devservices/config.yml:8:9
                |
              8 |         repo_name: snuba
                |         ^
            hint: a remote needs repo_name, branch and repo_link (mode defaults to `default`)
        "},
    );
}

#[test]
fn required_variable_missing() {
    config_error(
        indoc! {r#"
            x-sentry-service-config:
              version: 0.1
              service_name: demo
              dependencies:
                a:
                  description: a
              modes:
                default: [a]
            services:
              a:
                image: "postgres:${PG_VERSION:?set PG_VERSION to 14 or 16}"
        "#},
        indoc! {r#"
            error: required variable PG_VERSION is missing a value: set PG_VERSION to 14 or 16
              --> [TMP]/repo/devservices/config.yml:11:22
                 |
              11 |     image: "postgres:${PG_VERSION:?set PG_VERSION to 14 or 16}"
                 |                      ^
            hint: set the variable, give it a default with ${NAME:-default}, or write $$ for a literal $
        "#},
    );
}

#[test]
fn alias_bomb_is_refused() {
    // Ten aliases to the level below, twelve levels deep: 10^13 nodes.
    let mut yaml = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    let mut prev = "a".to_owned();
    for i in 0..12 {
        let name = format!("l{i}");
        let refs = vec![format!("*{prev}"); 10].join(", ");
        yaml.push_str(&format!("{name}: &{name} [{refs}]\n"));
        prev = name;
    }
    // The expansion budget stops it long before (bench/cli.sh times it).
    let out = Test::new()
        .config(&yaml)
        .arg("config")
        .code(2)
        .stdout("")
        .run();
    assert!(
        out.stderr.contains("expands to more than"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("alias bomb"), "{}", out.stderr);
}

#[test]
fn not_a_devservices_config() {
    config_error(
        indoc! {"
            services:
              a:
                image: x
        "},
        indoc! {"
            error: this is not a devservices config: `x-sentry-service-config` is missing
              --> [TMP]/repo/devservices/config.yml:1:1
                |
              1 | services:
                | ^
            hint: add an `x-sentry-service-config:` block with version, service_name, dependencies and modes (see `devrig init`)
        "},
    );
}

#[test]
fn missing_config_file() {
    Test::new()
        .arg("config")
        .code(2)
        .stderr(indoc! {"
            error: no devservices/config.yml in [TMP]/repo or any parent directory
            hint: run devrig inside a repo that has one, name a service (`devservices up snuba`), pass -c PATH, or create one with `devrig init`
        "})
        .run();
}

#[test]
fn unknown_mode() {
    Test::new()
        .config(indoc! {"
            x-sentry-service-config:
              version: 0.1
              service_name: demo
              dependencies:
                a:
                  description: a
              modes:
                default: [a]
                lite: []
            services:
              a:
                image: x
        "})
        .args(["config", "--mode", "ful"])
        .code(2)
        .stderr(indoc! {"
            error: mode `ful` does not exist for service `demo`
            hint: modes of `demo`: default, lite
        "})
        .run();
}

#[test]
fn duplicate_key() {
    config_error(
        indoc! {"
            x-sentry-service-config:
              version: 0.1
              service_name: demo
              dependencies:
                a:
                  description: a
              modes:
                default: [a]
            services:
              a:
                image: x
                image: y
        "},
        indoc! {"
            error: duplicate key `image` (first defined at line 11)
              --> [TMP]/repo/devservices/config.yml:12:5
                 |
              12 |     image: y
                 |     ^
            hint: remove one of the two; compose refuses duplicate keys too
        "},
    );
}

/// chartcuterie's real config mounts `$CHARTCUTERIE_CONFIG_PATH`; with the
/// variable unset, the error says so instead of naming a volume ``.
#[test]
fn an_unset_variable_that_empties_a_volume_source_is_named() {
    config_error(
        indoc! {"
            x-sentry-service-config:
              version: 0.1
              service_name: chartcuterie
              dependencies:
                chartcuterie:
                  description: charts
              modes:
                default: [chartcuterie]
            services:
              chartcuterie:
                image: ghcr.io/getsentry/chartcuterie:latest
                volumes:
                  - $CHARTCUTERIE_CONFIG_PATH:/etc/chartcuterie
        "},
        indoc! {"
            error: services.chartcuterie.volumes: the source of volume `:/etc/chartcuterie` is empty (`CHARTCUTERIE_CONFIG_PATH` is not set, so this interpolated to an empty string)
              --> [TMP]/repo/devservices/config.yml:13:9
                 |
              13 |       - $CHARTCUTERIE_CONFIG_PATH:/etc/chartcuterie
                 |         ^
            hint: set it in your environment (`export CHARTCUTERIE_CONFIG_PATH=…`) or in [TMP]/repo/devservices/.env beside the config, or give a default: `${CHARTCUTERIE_CONFIG_PATH:-value}`
        "},
    );
}

#[test]
fn an_unset_variable_that_empties_an_image_or_a_network_is_named() {
    config_error(
        indoc! {r#"
            x-sentry-service-config:
              version: 0.1
              service_name: demo
              dependencies:
                app:
                  description: app
              modes:
                default: [app]
            services:
              app:
                image: "${APP_IMAGE}"
        "#},
        indoc! {"
            error: `services.app.image` is empty (`APP_IMAGE` is not set, so this interpolated to an empty string)
              --> [TMP]/repo/devservices/config.yml:11:12
                 |
              11 |     image: \"${APP_IMAGE}\"
                 |            ^
            hint: set it in your environment (`export APP_IMAGE=…`) or in [TMP]/repo/devservices/.env beside the config, or give a default: `${APP_IMAGE:-value}`
        "},
    );
    config_error(
        indoc! {r#"
            x-sentry-service-config:
              version: 0.1
              service_name: demo
              dependencies:
                app:
                  description: app
              modes:
                default: [app]
            services:
              app:
                image: redis:7
                networks: ["$APP_NETWORK"]
        "#},
        indoc! {"
            error: a network name in `services.app.networks` is empty (`APP_NETWORK` is not set, so this interpolated to an empty string)
              --> [TMP]/repo/devservices/config.yml:12:16
                 |
              12 |     networks: [\"$APP_NETWORK\"]
                 |                ^
            hint: set it in your environment (`export APP_NETWORK=…`) or in [TMP]/repo/devservices/.env beside the config, or give a default: `${APP_NETWORK:-value}`
        "},
    );
}

#[test]
fn stop_signal_that_cannot_stop_a_program() {
    config_error(
        indoc! {"
            x-sentry-service-config:
              version: 0.1
              service_name: demo
              modes:
                default: []
            x-programs:
              worker:
                command: sleep 100
                stopsignal: SIGRTMIN
        "},
        indoc! {"
            error: program `worker`.stop_signal is not a signal devrig can stop a program with
              --> [TMP]/repo/devservices/config.yml:9:17
                |
              9 |     stopsignal: SIGRTMIN
                |                 ^
            hint: use one of HUP, INT, QUIT, ABRT, KILL, USR1, USR2, ALRM, TERM, CONT, STOP, WINCH (with or without SIG), or its number
        "},
    );
}

/// A program's name becomes its log file's name: nothing that could leave
/// the log directory is accepted.
#[test]
fn program_name_that_is_a_path() {
    config_error(
        indoc! {"
            x-sentry-service-config:
              version: 0.1
              service_name: demo
              modes:
                default: []
            x-programs:
              ../../../../victim:
                command: sleep 100
        "},
        indoc! {"
            error: `../../../../victim` is not a valid program name
              --> [TMP]/repo/devservices/config.yml:7:3
                |
              7 |   ../../../../victim:
                |   ^
            hint: use letters, digits, `.`, `-` and `_`
        "},
    );
}
