//! Differential test of devservices' command forms (issue 12) against the
//! real getsentry devservices 1.5.4 from the test bed's venv: the same
//! coderoot and the same command lines, run by devservices and then by
//! devrig, from inside a repo and from outside every repo, with the engine
//! cleaned between the two. After every step both must have left the same
//! things behind: containers by name and state, volumes, the programs
//! running, the dependency cache, and the services the tool itself says
//! are up; with the same exit code; and for `list-*` (and the containers
//! `status`/`logs` show) the same names. A difference devrig means is
//! declared on its step with the words README's "Where devrig means to
//! differ" uses for it, and must then be found exactly so.
//!
//! The coderoot (sentry-devenv's `[devenv] coderoot`) holds three repos:
//! `kv`, one compose service named like the repo's service (as sentry's
//! kafka and redis are); `app`, which uses kv as a remote dependency and
//! has a container and a program (`x-programs`) of its own; and `api`,
//! which uses kv too. devservices cannot fetch remotes here (it downloads
//! GitHub zipballs, and there is no GitHub), so its dependency cache is
//! pre-filled with kv's files: `up` then runs with `--offline` wherever a
//! remote is involved, and `down`, `status`, `logs` and `toggle` use the
//! complete cache without the network (its `IF_NEEDED` mode; `toggle`
//! brings the toggled service up without `--offline`, which fetches nothing
//! only because kv has no remotes of its own). devrig fetches the same
//! files over `file://` once before. `update` reads devservices' cached
//! latest version, pre-filled as 1.5.4 (without it, devservices asks
//! GitHub's API). `purge` without a name removes every devservices
//! container of the engine, so that scenario runs on the test bed's second
//! engine, with no other test on it. Not compared: `foreground` and `serve`
//! (a program in this terminal; tests/programs.rs and tests/serve.rs), and
//! `up` without `--offline` for a repo with remotes, which devservices
//! cannot run without GitHub.
//!
//! devservices runs with `CI=true`: sentry-devenv reads the coderoot from
//! the passwd entry's home unless `CI` is set, and then from `$HOME`, the
//! scratch one.

mod common;

use common::{
    TCP_ENGINE, World, compose_binary, finish, formatdoc, git, indoc, kill, marker, processes_with,
    sleeping, testbed_dir, wait_for, write,
};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What is compared after each step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Aspect {
    /// The exit code.
    Code,
    /// Every container of the three projects, by name, with its state.
    Containers,
    /// Their volumes.
    Volumes,
    /// Whether app's program runs.
    Programs,
    /// Whether kv is in the dependency cache.
    Cache,
    /// The services the tool's own `list-services` says are up.
    Up,
    /// What a `list-*` lists, or which containers `status`/`logs` show.
    Listed,
}

/// README's words for each difference devrig means ("Where devrig means to
/// differ"); `readme_lists_every_intended_difference` holds README to them.
const EXIT_CODES: &str = "where devservices exits 1 for every failure";
const PROGRAMS_FROM_ANYWHERE: &str = "A named service's programs start from any directory";
const RESET_ALONE: &str = "`reset` stops and removes only what it resets";
const PURGE_PROJECT: &str = "`purge SERVICE` removes the service's compose project";
const PURGE_KEEPS_VOLUMES: &str = "`purge` without a service keeps data volumes";
const PURGE_STOPS_PROGRAMS: &str = "`purge` stops the supervised programs";
const CONFIG_ANYWHERE: &str = "`-c PATH` names the repo from any directory";
const STATUS_ANY_WAY: &str =
    "`status SERVICE` and `logs SERVICE` show the service's containers however it was started";
const TOGGLE_BACK: &str = "Toggling a running service back to containerized moves it";
const INVALID_REPO: &str =
    "A repo under the coderoot whose config is invalid is skipped with a warning";

const REASONS: &[&str] = &[
    EXIT_CODES,
    PROGRAMS_FROM_ANYWHERE,
    CONFIG_ANYWHERE,
    RESET_ALONE,
    PURGE_PROJECT,
    PURGE_KEEPS_VOLUMES,
    PURGE_STOPS_PROGRAMS,
    STATUS_ANY_WAY,
    TOGGLE_BACK,
    INVALID_REPO,
];

/// The repos under the coderoot.
#[derive(Clone, Copy, Debug)]
enum Repo {
    Kv,
    App,
    Api,
}

impl Repo {
    fn dir(self) -> &'static str {
        match self {
            Repo::Kv => "kv",
            Repo::App => "app",
            Repo::Api => "api",
        }
    }
}

/// Where a step runs.
#[derive(Clone, Copy, Debug)]
enum Place {
    In(Repo),
    /// A directory outside every repo.
    Outside,
}
use Place::{In, Outside};
use Repo::{Api, App, Kv};

/// What a step lists, compared as a set of names.
#[derive(Clone, Copy, Debug)]
enum Listing {
    /// `list-services`: the service names.
    Services,
    /// `list-dependencies`: the top-level dependencies.
    Dependencies,
    /// `status`, `logs`: which of the containers appear.
    Containers,
}

/// One command line, run by each tool in turn.
struct Step {
    place: Place,
    /// With `{kv}`, `{app}`, `{api}` (the service names) and `{code}` (the
    /// coderoot) filled in, split at spaces.
    line: &'static str,
    /// Where devservices deletes data without asking and devrig asks:
    /// devrig is given `--yes`, devservices a `y` on stdin.
    confirmed: bool,
    listing: Option<Listing>,
    intended: Vec<(Aspect, &'static str)>,
}

fn step(place: Place, line: &'static str) -> Step {
    Step {
        place,
        line,
        confirmed: false,
        listing: None,
        intended: Vec::new(),
    }
}

impl Step {
    fn confirmed(mut self) -> Self {
        self.confirmed = true;
        self
    }

    fn lists(mut self, listing: Listing) -> Self {
        self.listing = Some(listing);
        self
    }

    /// A difference devrig means, in README's words.
    fn differs(mut self, aspect: Aspect, why: &'static str) -> Self {
        self.intended.push((aspect, why));
        self
    }

    /// devservices exits 1 where devrig says the command line or config is
    /// wrong (2).
    fn usage_error(self) -> Self {
        self.differs(Aspect::Code, EXIT_CODES)
    }
}

#[derive(Clone, Copy, Debug)]
enum Tool {
    Devservices,
    Devrig,
}

/// What one step left behind, as one tool ran it.
#[derive(Debug)]
struct Observed {
    code: i32,
    containers: BTreeMap<String, String>,
    volumes: BTreeSet<String>,
    programs: usize,
    cached: bool,
    up: BTreeSet<String>,
    listed: Option<BTreeSet<String>>,
    /// stdout and stderr, for the report.
    output: String,
}

impl Observed {
    /// The aspects on which `self` (devservices) and `other` (devrig) differ.
    fn differences(&self, other: &Observed) -> BTreeSet<Aspect> {
        let mut found = BTreeSet::new();
        let mut check = |aspect, same: bool| {
            if !same {
                found.insert(aspect);
            }
        };
        check(Aspect::Code, self.code == other.code);
        check(Aspect::Containers, self.containers == other.containers);
        check(Aspect::Volumes, self.volumes == other.volumes);
        check(Aspect::Programs, self.programs == other.programs);
        check(Aspect::Cache, self.cached == other.cached);
        check(Aspect::Up, self.up == other.up);
        check(Aspect::Listed, self.listed == other.listed);
        found
    }

    fn show(&self, aspect: Aspect) -> String {
        match aspect {
            Aspect::Code => format!("exit {}", self.code),
            Aspect::Containers => format!("{:?}", self.containers),
            Aspect::Volumes => format!("{:?}", self.volumes),
            Aspect::Programs => format!("{} running", self.programs),
            Aspect::Cache => format!("cached: {}", self.cached),
            Aspect::Up => format!("{:?}", self.up),
            Aspect::Listed => format!("{:?}", self.listed),
        }
    }
}

/// The test bed's venv: devservices 1.5.4, supervisor 4.3, sentry-devenv.
fn venv() -> PathBuf {
    let venv = testbed_dir().join("compose-2.40.3");
    assert!(
        venv.join("bin/devservices").is_file() && venv.join("bin/supervisord").is_file(),
        "devservices 1.5.4 and supervisord are not installed in {}; run `bash tests/testbed/up.sh`",
        venv.display()
    );
    venv
}

/// One scenario's coderoot on one engine, and each tool's scratch home.
struct Bed {
    world: World,
    kv: String,
    app: String,
    api: String,
    /// kv's `repo_name`: where the caches keep it. Not its service name,
    /// as devservices finds a cached service by the name in its config;
    /// unique, as devrig rebuilding its state from the shared engine's
    /// labels resolves other beds' repos through its own cache.
    repo: String,
    /// app's program is `sleep <marker>`.
    marker: String,
    code: PathBuf,
    outside: PathBuf,
    /// devservices' HOME (devrig's is the world's).
    ds_home: PathBuf,
}

impl Bed {
    /// The coderoot on the default engine, or on `engine` to itself.
    fn new(engine: Option<&str>) -> Bed {
        let world = match engine {
            Some(host) => World::engine_alone("app", host),
            None => World::engine("app"),
        };
        let app = world.project().to_owned();
        let kv = world.other_project("kv");
        let api = world.other_project("api");
        let repo = format!("{kv}-repo");
        let marker = marker();
        let code = world.root().join("code");
        let outside = world.root().join("elsewhere");
        std::fs::create_dir_all(&outside).expect("mkdir");
        let ds_home = world.root().join("dsh");
        let bed = Bed {
            world,
            kv,
            app,
            api,
            repo,
            marker,
            code,
            outside,
            ds_home,
        };
        bed.write_repos();
        bed.prepare_devservices();
        bed.prepare_devrig();
        bed
    }

    fn write_repos(&self) {
        let Bed { kv, app, api, .. } = self;
        let network = "    labels: [orchestrator=devservices]\n    networks: [devservices]\n";
        let tail = "networks:\n  devservices:\n    name: devservices\n    external: true\n";
        let image = "127.0.0.1:5000/library/redis:7";
        // kv is a remote of app and api (fetched by devrig from a bare
        // repository over file://) and a checkout under the coderoot (for
        // `up kv`, `toggle kv local`).
        self.world.remote_config(
            &self.repo,
            &formatdoc! {r#"
                x-sentry-service-config:
                  version: 0.1
                  service_name: {kv}
                  dependencies:
                    {kv}: {{description: the shared store}}
                  modes:
                    default: [{kv}]
                services:
                  {kv}:
                    image: {image}
                    command: [redis-server, --save, ""]
                    volumes: [data:/data]
                {network}volumes:
                  data:
                {tail}"#},
        );
        git(
            self.world.root(),
            &[
                "clone",
                "-q",
                &self
                    .world
                    .remotes()
                    .join(format!("{}.git", self.repo))
                    .display()
                    .to_string(),
                &self.code.join("kv").display().to_string(),
            ],
        );
        let remote = format!(
            "remote: {{repo_name: {repo}, branch: main, repo_link: \"file://{}/{repo}.git\"}}",
            self.world.remotes().display(),
            repo = self.repo
        );
        write(
            &self.code.join("app/devservices/config.yml"),
            &formatdoc! {r#"
                x-sentry-service-config:
                  version: 0.1
                  service_name: {app}
                  dependencies:
                    {kv}:
                      description: the shared store
                      {remote}
                    db: {{description: the app's own store}}
                    worker: {{description: a worker}}
                  modes:
                    default: [{kv}, db, worker]
                    minimal: [db]
                x-programs:
                  worker:
                    command: sleep {marker}
                services:
                  db:
                    image: {image}
                    command: [redis-server, --save, ""]
                    volumes: [appdata:/data]
                {network}volumes:
                  appdata:
                {tail}"#, marker = self.marker},
        );
        write(
            &self.code.join("api/devservices/config.yml"),
            &formatdoc! {r#"
                x-sentry-service-config:
                  version: 0.1
                  service_name: {api}
                  dependencies:
                    {kv}:
                      description: the shared store
                      {remote}
                    web: {{description: the api}}
                  modes:
                    default: [{kv}, web]
                services:
                  web:
                    image: {image}
                    command: [redis-server, --save, ""]
                {network}{tail}"#},
        );
    }

    /// sentry-devenv's config naming the coderoot, in `home`.
    fn name_coderoot(&self, home: &Path) {
        write(
            &home.join(".config/sentry-devenv/config.ini"),
            &format!("[devenv]\ncoderoot = {}\n", self.code.display()),
        );
    }

    /// devservices' home: the coderoot, kv's files in its dependency cache
    /// (what its GitHub download would have put there), the compose plugin
    /// for its `docker compose`, and 1.5.4 as the latest version it saw.
    fn prepare_devservices(&self) {
        let home = &self.ds_home;
        self.name_coderoot(home);
        let cache = home.join(".cache/sentry-devservices");
        common::copy_tree(
            &self.code.join("kv/devservices"),
            &cache
                .join("dependencies/v1")
                .join(&self.repo)
                .join("devservices"),
            &|t| t.to_owned(),
        );
        write(&cache.join("latest_version.txt"), "1.5.4");
        let plugins = home.join(".docker/cli-plugins");
        std::fs::create_dir_all(&plugins).expect("mkdir");
        std::os::unix::fs::symlink(compose_binary(), plugins.join("docker-compose")).expect("link");
    }

    /// devrig's home: the coderoot, and kv fetched into its cache.
    fn prepare_devrig(&self) {
        self.name_coderoot(&self.world.home());
        let config = self.code.join("app/devservices/config.yml");
        self.world
            .devrig()
            .arg("-c")
            .arg(&config)
            .args(["list-dependencies", "--refresh"])
            .run();
    }

    fn dir(&self, place: Place) -> PathBuf {
        match place {
            In(repo) => self.code.join(repo.dir()),
            Outside => self.outside.clone(),
        }
    }

    fn args(&self, line: &str) -> Vec<String> {
        line.replace("{kv}", &self.kv)
            .replace("{app}", &self.app)
            .replace("{api}", &self.api)
            .replace("{code}", &self.code.display().to_string())
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }

    /// devservices 1.5.4 with `args` in `dir`, in its scratch home.
    fn devservices(&self, dir: &Path, args: &[String], answer: Option<&str>) -> (i32, String) {
        let venv = venv();
        let path = format!(
            "{}:{}",
            venv.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new(venv.join("bin/devservices"));
        cmd.args(args)
            .current_dir(dir)
            .env_clear()
            .env("PATH", path)
            .env("HOME", &self.ds_home)
            .env("CI", "true")
            .env("DEVSERVICES_DISABLE_SENTRY", "1")
            .stdin(if answer.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(host) = self.world.engine_host() {
            cmd.env("DOCKER_HOST", host);
        }
        let shown = format!("devservices {}", args.join(" "));
        let mut child = cmd.spawn().expect("devservices starts");
        if let Some(answer) = answer {
            let mut stdin = child.stdin.take().expect("piped");
            stdin.write_all(answer.as_bytes()).expect("write stdin");
        }
        let (code, stdout, stderr) = finish(child, &shown);
        (code, format!("{stdout}{stderr}"))
    }

    /// devrig, as `devservices`, with `args` in `dir`.
    fn devrig(&self, dir: &Path, args: &[String]) -> (i32, String) {
        let out = self
            .world
            .devrig()
            .named("devservices")
            .current_dir(dir)
            .args(args)
            .any_code()
            .run();
        (out.code, format!("{}{}", out.stdout, out.stderr))
    }

    fn run(&self, tool: Tool, step: &Step) -> Observed {
        let dir = self.dir(step.place);
        let mut args = self.args(step.line);
        let (code, output) = match tool {
            Tool::Devservices => self.devservices(&dir, &args, step.confirmed.then_some("y\n")),
            Tool::Devrig => {
                if step.confirmed {
                    args.push("--yes".to_owned());
                }
                self.devrig(&dir, &args)
            }
        };
        let text = strip_colors(&output);
        let listed = step.listing.map(|listing| self.listed(listing, &text));
        // What the tool says is up, from outside every repo.
        let ls = ["list-services".to_owned()];
        let (_, services) = match tool {
            Tool::Devservices => self.devservices(&self.outside, &ls, None),
            Tool::Devrig => self.devrig(&self.outside, &ls),
        };
        let up = self.listed(Listing::Services, &strip_colors(&services));
        let cache = match tool {
            Tool::Devservices => self
                .ds_home
                .join(".cache/sentry-devservices/dependencies/v1")
                .join(&self.repo),
            Tool::Devrig => self.world.cache().join(&self.repo),
        };
        Observed {
            code,
            containers: self.containers(),
            volumes: self.volumes(),
            programs: sleeping(&self.marker).len(),
            cached: cache.join("devservices/config.yml").is_file(),
            up,
            listed,
            output: text,
        }
    }

    /// The names `listing` finds in a tool's output, among this bed's.
    fn listed(&self, listing: Listing, text: &str) -> BTreeSet<String> {
        let ours = [&self.kv, &self.app, &self.api];
        let names: BTreeSet<String> = match listing {
            // devservices: `- name` lines; devrig: a table, name first.
            Listing::Services => text
                .lines()
                .filter_map(|l| l.strip_prefix("- ").unwrap_or(l).split_whitespace().next())
                .map(str::to_owned)
                .collect(),
            // devservices: `- name: description`; devrig: the tree's top.
            Listing::Dependencies => text
                .lines()
                .filter_map(|l| {
                    l.strip_prefix("- ")
                        .and_then(|l| l.split(':').next())
                        .or_else(|| {
                            l.strip_prefix("├── ")
                                .or_else(|| l.strip_prefix("└── "))
                                .and_then(|l| l.split(' ').next())
                        })
                })
                .map(str::to_owned)
                .collect(),
            Listing::Containers => {
                return self
                    .container_names()
                    .into_iter()
                    .filter(|name| text.contains(name.as_str()))
                    .collect();
            }
        };
        let known: BTreeSet<String> = match listing {
            Listing::Dependencies => ["db", "worker", "web"]
                .into_iter()
                .map(str::to_owned)
                .chain(ours.iter().map(|s| s.to_string()))
                .collect(),
            _ => ours.iter().map(|s| s.to_string()).collect(),
        };
        // (devrig's state, rebuilt from the shared engine's labels, may
        // also list other tests' services.)
        names.intersection(&known).cloned().collect()
    }

    fn container_names(&self) -> [String; 3] {
        [
            format!("{0}-{0}-1", self.kv),
            format!("{}-db-1", self.app),
            format!("{}-web-1", self.api),
        ]
    }

    fn containers(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for project in [&self.kv, &self.app, &self.api] {
            let filter = format!("label=com.docker.compose.project={project}");
            let listed = self.world.docker(&[
                "ps",
                "-a",
                "--filter",
                &filter,
                "--format",
                "{{.Names}} {{.State}}",
            ]);
            for line in listed.lines() {
                if let Some((name, state)) = line.split_once(' ') {
                    out.insert(name.to_owned(), state.to_owned());
                }
            }
        }
        out
    }

    fn volumes(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for project in [&self.kv, &self.app, &self.api] {
            let filter = format!("label=com.docker.compose.project={project}");
            out.extend(
                self.world
                    .docker(&["volume", "ls", "-q", "--filter", &filter])
                    .lines()
                    .map(str::to_owned),
            );
        }
        out
    }

    /// The supervisors either tool left running: devservices'
    /// supervisord (by its pid file) and devrig's, one a project.
    fn supervisors(&self) -> Vec<i64> {
        let dir = self
            .ds_home
            .join(".local/share/sentry-devservices/supervisor");
        let mut pids: Vec<i64> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "pid"))
            .filter_map(|e| std::fs::read_to_string(e.path()).ok()?.trim().parse().ok())
            .filter(|pid| common::cmdline(*pid).contains("supervisord"))
            .collect();
        for project in [&self.kv, &self.app, &self.api] {
            pids.extend(
                processes_with(&format!("__supervise {project} "))
                    .iter()
                    .filter_map(|line| line.split(':').next()?.parse::<i64>().ok()),
            );
        }
        pids
    }

    /// Stops the supervisors and so their programs, then takes the three
    /// projects off the engine.
    fn clean(&self) {
        let pids = self.supervisors();
        for pid in &pids {
            kill(*pid, libc::SIGTERM);
        }
        wait_for("the supervisors to end", Duration::from_secs(30), || {
            pids.iter().all(|pid| common::cmdline(*pid).is_empty())
                && sleeping(&self.marker).is_empty()
        });
        self.world.remove_projects();
    }

    /// Runs the steps with each tool in turn; returns what differs other
    /// than declared, and the declared differences not found.
    fn compare(&self, name: &str, steps: &[Step]) -> Vec<String> {
        let began = Instant::now();
        let theirs: Vec<Observed> = steps
            .iter()
            .map(|s| self.run(Tool::Devservices, s))
            .collect();
        self.clean();
        let half = began.elapsed();
        let ours: Vec<Observed> = steps.iter().map(|s| self.run(Tool::Devrig, s)).collect();
        self.clean();
        eprintln!(
            "{name}: {} steps; devservices {:.1}s, devrig {:.1}s (each with a list-services after every step)",
            steps.len(),
            half.as_secs_f64(),
            (began.elapsed() - half).as_secs_f64()
        );
        let mut problems = Vec::new();
        for (i, ((step, a), b)) in steps.iter().zip(&theirs).zip(&ours).enumerate() {
            let found = a.differences(b);
            let declared: BTreeSet<Aspect> = step.intended.iter().map(|(a, _)| *a).collect();
            if found == declared {
                continue;
            }
            let mut lines = vec![format!(
                "{name}, step {}: `{}` in {:?}",
                i + 1,
                self.args(step.line).join(" "),
                step.place
            )];
            for aspect in found.difference(&declared) {
                lines.push(format!(
                    "  {aspect:?} differs: devservices {}, devrig {}",
                    a.show(*aspect),
                    b.show(*aspect)
                ));
            }
            for aspect in declared.difference(&found) {
                lines.push(format!(
                    "  {aspect:?} was declared different and is the same: {}",
                    a.show(*aspect)
                ));
            }
            lines.push(format!("  --- devservices\n{}", indent(&a.output)));
            lines.push(format!("  --- devrig\n{}", indent(&b.output)));
            problems.push(lines.join("\n"));
        }
        problems
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        // A step that failed half-way leaves no supervisor behind; the
        // world then removes the containers.
        if std::thread::panicking() {
            for pid in self.supervisors() {
                kill(pid, libc::SIGTERM);
            }
        }
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `text` without ANSI color sequences (devservices colors even a pipe).
fn strip_colors(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Runs one scenario on its own bed; fails with every unexpected difference.
fn scenario(name: &str, engine: Option<&str>, steps: impl FnOnce(&Bed) -> Vec<Step>) {
    let _ = venv();
    let bed = Bed::new(engine);
    let steps = steps(&bed);
    let problems = bed.compare(name, &steps);
    assert!(
        problems.is_empty(),
        "devrig and devservices 1.5.4 differ:\n{}",
        problems.join("\n\n")
    );
}

#[test]
fn up_and_down_from_inside_a_repo_and_by_name_from_anywhere() {
    scenario("up/down", None, |_| {
        vec![
            step(In(App), "up --offline"),
            step(In(App), "down"),
            step(Outside, "up {app} --offline").differs(Aspect::Programs, PROGRAMS_FROM_ANYWHERE),
            step(Outside, "down {app}"),
            step(In(Api), "up {app} --mode minimal --offline --debug"),
            step(Outside, "down {app} --debug"),
            step(In(Kv), "up"),
            step(Outside, "down {kv}"),
            step(Outside, "up {kv}"),
            step(In(Kv), "down"),
        ]
    });
}

#[test]
fn down_keeps_a_dependency_another_service_uses() {
    scenario("shared", None, |_| {
        vec![
            step(In(App), "up --offline"),
            step(Outside, "up {api} --offline"),
            step(Outside, "down {app}"),
            step(In(Api), "down"),
            step(In(App), "down"),
        ]
    });
}

#[test]
fn status_and_logs_of_a_service() {
    use Aspect::Listed;
    scenario("status/logs", None, |_| {
        vec![
            step(In(App), "up --offline"),
            step(In(App), "status").lists(Listing::Containers),
            step(Outside, "status {app}").lists(Listing::Containers),
            // kv runs as app's dependency only; api is not up.
            step(Outside, "status {kv}")
                .lists(Listing::Containers)
                .differs(Listed, STATUS_ANY_WAY),
            step(In(Api), "status")
                .lists(Listing::Containers)
                .differs(Listed, STATUS_ANY_WAY),
            step(Outside, "status").usage_error(),
            step(In(App), "logs").lists(Listing::Containers),
            step(Outside, "logs {app}").lists(Listing::Containers),
            step(Outside, "logs {api}")
                .lists(Listing::Containers)
                .differs(Listed, STATUS_ANY_WAY),
            step(Outside, "logs").usage_error(),
        ]
    });
}

#[test]
fn list_services_and_dependencies() {
    scenario("list", None, |_| {
        vec![
            step(Outside, "ls").lists(Listing::Services),
            step(Outside, "list-services -a").lists(Listing::Services),
            step(In(App), "list-dependencies").lists(Listing::Dependencies),
            step(Outside, "list-dependencies {api}").lists(Listing::Dependencies),
            step(Outside, "list-dependencies").usage_error(),
            step(In(App), "up --offline"),
            step(Outside, "ls").lists(Listing::Services),
            step(In(Api), "ls --all").lists(Listing::Services),
            step(In(Kv), "list-services").lists(Listing::Services),
        ]
    });
}

#[test]
fn reset_of_a_service() {
    use Aspect::{Containers, Programs, Up};
    // devservices brings app down first; devrig leaves it running, and the
    // `down` after each reset makes the two alike again.
    let reset = |place, line| {
        step(place, line)
            .confirmed()
            .differs(Containers, RESET_ALONE)
            .differs(Programs, RESET_ALONE)
            .differs(Up, RESET_ALONE)
    };
    scenario("reset", None, |_| {
        vec![
            step(In(App), "up --offline"),
            reset(Outside, "reset {kv}"),
            step(Outside, "down {app}"),
            step(In(App), "up --offline"),
            reset(In(App), "reset {kv}"),
            step(In(App), "down"),
            step(Outside, "reset").usage_error(),
        ]
    });
}

#[test]
fn toggle_to_local_and_back() {
    scenario("toggle", None, |_| {
        vec![
            step(In(App), "up --offline"),
            step(Outside, "toggle {kv} local"),
            step(Outside, "down {app} --exclude-local --debug"),
            step(Outside, "down {kv}"),
            step(In(Kv), "toggle --debug"),
            step(In(App), "up --offline --exclude-local"),
            step(In(App), "up --offline"),
            step(In(App), "down"),
            step(Outside, "toggle {kv} containerized"),
            step(In(App), "up --offline"),
            step(Outside, "toggle {kv}"),
            // devservices refuses while kv runs (locally, for app).
            step(Outside, "toggle {kv} containerized").differs(Aspect::Up, TOGGLE_BACK),
        ]
    });
}

#[test]
fn update_and_errors() {
    use Aspect::{Code, Containers, Programs, Up};
    scenario("errors", None, |_| {
        vec![
            step(Outside, "--version"),
            step(Outside, "-h"),
            step(Outside, "update"),
            step(In(App), "update"),
            step(Outside, "up nosuch --offline").usage_error(),
            step(Outside, "-c {code}/app/devservices/config.yml up {app}").usage_error(),
            step(Outside, "down").usage_error(),
            // devservices prints the error and exits 0.
            step(Outside, "toggle nosuch").usage_error(),
            step(In(App), "-c devservices/config.yml up --offline"),
            step(In(App), "-c devservices/config.yml down"),
            // devservices takes the current directory for the repo: its
            // compose finds no config here (and it leaves app `starting`).
            step(Outside, "-c {code}/app/devservices/config.yml up --offline")
                .differs(Code, CONFIG_ANYWHERE)
                .differs(Containers, CONFIG_ANYWHERE)
                .differs(Programs, CONFIG_ANYWHERE),
            step(Outside, "-c {code}/app/devservices/config.yml down")
                .differs(Code, CONFIG_ANYWHERE)
                .differs(Up, CONFIG_ANYWHERE),
        ]
    });
}

#[test]
fn a_repo_with_an_invalid_config_under_the_coderoot() {
    use Aspect::{Code, Containers, Listed, Programs, Up, Volumes};
    scenario("invalid repo", None, |bed| {
        // A mode that lists an undeclared dependency: invalid for both.
        write(
            &bed.code.join("broken/devservices/config.yml"),
            indoc! {"
                x-sentry-service-config:
                  version: 0.1
                  service_name: broken
                  dependencies: {}
                  modes:
                    default: [nothing]
            "},
        );
        vec![
            step(Outside, "list-services --all")
                .lists(Listing::Services)
                .differs(Listed, INVALID_REPO),
            step(Outside, "up {kv}")
                .differs(Code, INVALID_REPO)
                .differs(Containers, INVALID_REPO)
                .differs(Volumes, INVALID_REPO)
                .differs(Up, INVALID_REPO),
            step(In(Kv), "down")
                .differs(Containers, INVALID_REPO)
                .differs(Volumes, INVALID_REPO),
            step(In(App), "up --offline").differs(Up, INVALID_REPO),
            step(In(App), "down")
                .differs(Code, INVALID_REPO)
                .differs(Containers, INVALID_REPO)
                .differs(Programs, INVALID_REPO),
        ]
    });
}

#[test]
fn purge_of_one_service() {
    use Aspect::{Containers, Programs, Up, Volumes};
    scenario("purge SERVICE", None, |_| {
        vec![
            step(In(App), "up --offline"),
            step(Outside, "up {api} --offline"),
            step(Outside, "purge {kv}").confirmed(),
            // Its cached remote went with it.
            step(In(App), "up --offline").usage_error(),
            step(In(App), "purge {app}")
                .confirmed()
                .differs(Containers, PURGE_PROJECT)
                .differs(Volumes, PURGE_PROJECT)
                .differs(Programs, PURGE_PROJECT)
                .differs(Up, PURGE_PROJECT),
        ]
    });
}

/// `purge` without a name removes every devservices container of the
/// engine: on the test bed's second engine, with no other test on it.
#[test]
fn purge_of_everything() {
    use Aspect::{Programs, Volumes};
    scenario("purge", Some(TCP_ENGINE), |_| {
        vec![
            step(In(App), "up --offline"),
            step(Outside, "up {api} --offline"),
            step(In(App), "purge")
                .differs(Volumes, PURGE_KEEPS_VOLUMES)
                .differs(Programs, PURGE_STOPS_PROGRAMS),
            // The cache went too; devservices' worker still runs.
            step(In(App), "up --offline")
                .usage_error()
                .differs(Volumes, PURGE_KEEPS_VOLUMES)
                .differs(Programs, PURGE_STOPS_PROGRAMS),
        ]
    });
}

#[test]
fn readme_lists_every_intended_difference() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let section = readme
        .split("Where devrig means to differ from devservices")
        .nth(1)
        .and_then(|rest| rest.split("\n### ").next())
        .expect("README has the list of intended differences");
    let flat = section.split_whitespace().collect::<Vec<_>>().join(" ");
    for reason in REASONS {
        assert!(
            flat.contains(reason),
            "README's \"Where devrig means to differ\" lacks: {reason}"
        );
    }
}
