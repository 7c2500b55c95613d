//! Every config error devrig reports: its message, the file:line:col it
//! points at, the source line, the hint, and exit code 2.

mod common;

use common::{Test, formatdoc, indoc};

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

/// `devrig config` on a config of exactly these bytes fails as a config
/// error with `stderr` exactly.
fn config_bytes_error(bytes: &[u8], stderr: &str) {
    let test = Test::new().config("");
    std::fs::write(test.world().repo().join("devservices/config.yml"), bytes).unwrap();
    test.arg("config").code(2).stdout("").stderr(stderr).run();
}

/// The line and column of the first byte that is not UTF-8, and the line
/// with it shown as U+FFFD.
#[test]
fn invalid_utf8_gives_the_line_and_column_of_the_first_bad_byte() {
    config_bytes_error(
        b"x-sentry-service-config:\n  version: 0.1\n  service_name: caf\xe9\n",
        indoc! {"
            error: the config is not valid UTF-8: byte 0xE9 at line 3, column 20 (shown as \u{FFFD})
              --> [TMP]/repo/devservices/config.yml:3:20
                |
              3 |   service_name: caf\u{FFFD}
                |                    ^
            hint: save it as UTF-8; from Latin-1, for example: iconv -f latin1 -t utf-8 [TMP]/repo/devservices/config.yml > config.utf8 && mv config.utf8 [TMP]/repo/devservices/config.yml
        "},
    );
}

/// A NUL is named, and shown as its picture rather than sent to the
/// terminal.
#[test]
fn a_nul_byte_is_named_with_what_to_do() {
    config_bytes_error(
        b"x-sentry-service-config:\n  version: 0.1\n  service_name: a\0b\n",
        indoc! {r#"
            error: invalid YAML: found the unprintable character U+0000 (NUL)
              --> [TMP]/repo/devservices/config.yml:3:18
                |
              3 |   service_name: a␀b
                |                  ^
            hint: a config is text: remove the character, or write it as an escape inside double quotes ("\0", "\x1b")
        "#},
    );
}

#[test]
fn tab_indentation_says_to_indent_with_spaces() {
    config_error(
        "x-sentry-service-config:\n\tversion: 0.1\n",
        indoc! {"
            error: invalid YAML: tabs disallowed within this context (block indentation)
              --> [TMP]/repo/devservices/config.yml:2:2
                |
              2 | \tversion: 0.1
                | \t^
            hint: YAML does not allow tabs for indentation (nor in some other places): indent with spaces
        "},
    );
}

#[test]
fn nesting_too_deep_says_what_to_do() {
    // Never closed: the depth is refused before the parser reaches the end.
    let line = format!("x: {}", "[".repeat(130));
    config_error(
        &format!("{line}\n"),
        &formatdoc! {"
            error: YAML nesting is too deep (more than 128 levels)
              --> [TMP]/repo/devservices/config.yml:1:132
                |
              1 | {line}
                | {caret}^
            hint: a devservices config nests a few levels deep; flatten the deepest part, or move it into a file the config refers to
        ",
            caret = " ".repeat(131),
        },
    );
}

/// The issue's 48 MB file: 900k keys, no aliases. Refused by its size,
/// from its length alone, never as an alias bomb (only what aliases copy
/// counts against that budget; `bench/yaml.sh` times both).
#[test]
fn a_file_of_900k_keys_is_refused_by_its_size_not_as_an_alias_bomb() {
    let mut yaml = String::from(indoc! {"
        x-sentry-service-config:
          version: 0.1
          service_name: demo
          modes:
            default: []
        x-big:
    "});
    for i in 0..900_000 {
        yaml.push_str(&format!(
            "  key-{i:07}: value-of-the-key-number-{i:07}-pad\n"
        ));
    }
    config_error(
        &yaml,
        &formatdoc! {"
            error: the config is 43.8MB ({} bytes), over the limit of 16MB for a config file
              --> [TMP]/repo/devservices/config.yml
            hint: a devservices config is a few KB; if this one is meant to be this large, raise the limit: DEVRIG_CONFIG_MAX_SIZE=64MB
        ",
            yaml.len()
        },
    );
}

#[test]
fn the_size_limit_is_set_by_devrig_config_max_size() {
    let config = indoc! {"
        x-sentry-service-config:
          version: 0.1
          service_name: demo
          modes:
            default: []
    "};
    Test::new()
        .config(config)
        .env("DEVRIG_CONFIG_MAX_SIZE", "64")
        .arg("config")
        .code(2)
        .stderr(indoc! {"
            error: the config is 86 bytes, over the limit of 64 bytes for a config file
              --> [TMP]/repo/devservices/config.yml
            hint: a devservices config is a few KB; if this one is meant to be this large, raise the limit: DEVRIG_CONFIG_MAX_SIZE=1MB
        "})
        .run();
    Test::new()
        .config(config)
        .env("DEVRIG_CONFIG_MAX_SIZE", "1KB")
        .arg("config")
        .run();
    Test::new()
        .config(config)
        .env("DEVRIG_CONFIG_MAX_SIZE", "lots")
        .arg("config")
        .code(2)
        .stderr(indoc! {"
            error: DEVRIG_CONFIG_MAX_SIZE is `lots`, which is not a size
              --> [TMP]/repo/devservices/config.yml
            hint: give bytes or a size such as 64MB (KB, MB and GB are powers of 1024), or unset it for the default of 16MB
        "})
        .run();
}

/// `up` needs the variable a program's command uses, and says where; the
/// commands that only stop or look need not (tests/programs.rs runs
/// `down`, `status` and `logs` without it).
#[test]
fn up_refuses_a_program_whose_variable_is_unset() {
    Test::new()
        .config(indoc! {"
            x-sentry-service-config:
              version: 0.1
              service_name: demo
              dependencies:
                worker:
                  description: worker
              modes:
                default: [worker]
            x-programs:
              worker:
                command: sleep %(ENV_DEVRIG_TEST_WORKER_SECS)s
        "})
        .arg("up")
        .code(2)
        .stderr(indoc! {"
            error: program `worker`.command: `%(ENV_DEVRIG_TEST_WORKER_SECS)s` refers to `DEVRIG_TEST_WORKER_SECS`, which is not set
              --> [TMP]/repo/devservices/config.yml:11:14
                 |
              11 |     command: sleep %(ENV_DEVRIG_TEST_WORKER_SECS)s
                 |              ^
            hint: set it in this shell (`export DEVRIG_TEST_WORKER_SECS=…`) to start the program; stopping it does not need it
        "})
        .run();
}
