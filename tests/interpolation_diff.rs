//! Interpolation, differentially: a corpus of templates in the forms
//! compose-go's own template tests exercise (written here, not copied), run
//! through the real docker compose 2.40.3 and through devrig on the same
//! file with the same variables. Values must be equal; a template compose
//! refuses must be refused by devrig with the same message.

mod common;

use common::{Output, World, compose_binary};

/// The variables every case sees; `UNSET` is never set.
const VARS: &[(&str, &str)] = &[
    ("FOO", "first"),
    ("BAR", ""),
    ("LIST", "a b c"),
    ("DOLLAR", "costs $5"),
    ("NESTED", "FOO"),
    ("_UNDER", "u"),
    ("X1", "x-one"),
];

const VALID: &[&str] = &[
    "plain text",
    "$FOO",
    "${FOO}",
    "pre-${FOO}-post",
    "$FOO$FOO",
    "${FOO}${FOO}",
    "$FOO.ext",
    "${FOO}bar",
    "$_UNDER and $X1",
    "${UNSET}",
    "$UNSET!",
    "${UNSET:-default}",
    "${UNSET-default}",
    "${BAR:-default}",
    "${BAR-default}",
    "${FOO:-default}",
    "${FOO-default}",
    "${UNSET:-}",
    "${UNSET:-with spaces and = signs}",
    "${UNSET:-${FOO}}",
    "${UNSET:-${UNSET2:-deep}}",
    "${UNSET:-pre ${FOO} post}",
    "${FOO:+replaced}",
    "${BAR:+replaced}",
    "${UNSET:+replaced}",
    "${FOO+replaced}",
    "${BAR+replaced}",
    "${UNSET+replaced}",
    "${FOO:?must be set}",
    "${FOO?must be set}",
    "${BAR?may be empty}",
    "$$",
    "$$FOO",
    "$${FOO}",
    "$$$FOO",
    "a $ b",
    "trailing $",
    "$1 and $-",
    "${DOLLAR}",
    "${LIST}",
    "${UNSET:-a}${UNSET:-b}",
    "{FOO}",
    "}",
    "${UNSET:-}}",
];

const INVALID: &[&str] = &[
    "${",
    "${}",
    "${FOO",
    "${ FOO}",
    "${FOO }",
    "${FOO:x}",
    "${1}",
    "${FOO::-x}",
];

const REQUIRED: &[&str] = &[
    "${UNSET:?set UNSET please}",
    "${BAR:?must not be empty}",
    "${UNSET?}",
    "${UNSET:-${REQ:?nested}}",
];

fn yaml_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn config_with(cases: &[&str]) -> String {
    let mut text = String::from(
        "x-sentry-service-config:\n  version: 0.1\n  service_name: interp\n  dependencies:\n    s: {description: s}\n  modes:\n    default: [s]\nservices:\n  s:\n    image: busybox\n    environment:\n",
    );
    for (i, case) in cases.iter().enumerate() {
        text.push_str(&format!("      V{i:03}: {}\n", yaml_quote(case)));
    }
    text
}

/// Runs compose on the world's config: Ok(services.s.environment) or Err(stderr).
fn compose(world: &World) -> Result<serde_json::Value, String> {
    let mut cmd = std::process::Command::new(compose_binary());
    cmd.args(["-f", "devservices/config.yml", "config", "--format", "json"])
        .current_dir(world.repo())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("COMPOSE_PROJECT_NAME", "interp");
    for (k, v) in VARS {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("compose runs");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    Ok(json["services"]["s"]["environment"].clone())
}

/// `devrig config --json` on the world's config, with [`VARS`] set.
fn devrig(world: &World) -> Output {
    world
        .devrig()
        .envs(VARS.iter().copied())
        .args(["config", "--json"])
        .any_code()
        .run()
}

#[test]
fn valid_templates_give_the_same_values() {
    let world = World::new();
    world.config(&config_with(VALID));
    let theirs = compose(&world).expect("compose accepts every valid case");
    let out = devrig(&world);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let plan = out.json();
    let ours = &plan["projects"]["interp"]["services"]["s"]["environment"];
    for (i, case) in VALID.iter().enumerate() {
        let key = format!("V{i:03}");
        // compose doubles every `$` in its output; the value itself has one.
        let expected = theirs[&key].as_str().map(|s| s.replace("$$", "$"));
        assert_eq!(
            ours[&key].as_str().map(str::to_owned),
            expected,
            "case {case:?}"
        );
    }
    // Both warn about the unset variables (compose once per use, devrig once per name).
    assert!(
        out.stderr.contains("the `UNSET` variable is not set"),
        "{}",
        out.stderr
    );
}

#[test]
fn invalid_and_required_templates_are_refused_alike() {
    for case in INVALID.iter().chain(REQUIRED) {
        let world = World::new();
        world.config(&config_with(&[case]));
        let theirs = compose(&world).expect_err(&format!("compose refuses {case:?}"));
        let out = devrig(&world);
        assert_eq!(out.code, 2, "devrig refuses {case:?}: {}", out.stderr);
        let ours = out
            .stderr
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("error: "))
            .expect("an error line")
            .to_owned();
        if INVALID.contains(case) {
            // compose's CLI words it as "invalid interpolation format for <path>".
            assert!(
                theirs.contains("invalid interpolation format"),
                "case {case:?}: {theirs:?}"
            );
            assert!(
                ours.starts_with("Invalid template: "),
                "case {case:?}: {ours:?}"
            );
        } else {
            assert!(
                theirs.contains(&ours),
                "case {case:?}: compose said {theirs:?}, devrig said {ours:?}"
            );
        }
    }
}
