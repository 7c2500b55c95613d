//! The test harness: each test reads as its scenario.
//!
//! - [`World`] (world.rs): one test's isolated machine: a temp repo, HOME,
//!   XDG dirs, state dir, dependency cache and bare git remotes; as
//!   `World::engine`, also a unique compose project on the test bed's
//!   engine, taken down and removed when the world is dropped.
//! - [`Test`] (test.rs): one devrig run: config, files, env, args, stdin,
//!   then the expected exit code, stdout and stderr (exact, contains,
//!   snapshots), and `run()`.
//! - config.rs: the `x-sentry-service-config` block around a test's
//!   services and programs, every one in the default mode.
//! - filters.rs: the insta filters that make timings, pids, ports and ids
//!   snapshot-stable.
//! - docker.rs: the test bed (engine, registry, compose) and `docker` to
//!   inspect what devrig did; process.rs: the process table;
//!   spawned.rs: devrig in the background, its output collected as it
//!   comes; terminal.rs: devrig on a pseudo-terminal; status.rs: reading
//!   `status --json` (a program, the supervisor, the schema).
//! - registry_proxy.rs: a registry in front of the test bed's that relays,
//!   answers or holds each request as the test decides.
//! - http.rs: a real HTTP server on 127.0.0.1 with a request log;
//!   toolchain.rs: real Node, pnpm, uv and the machine's Python, fetched
//!   from the registries once and cached.

// Every test binary compiles the whole harness and uses a part of it.
#![allow(dead_code, unused_imports)]

mod config;
mod docker;
mod filters;
pub mod http;
mod process;
mod registry_proxy;
mod spawned;
mod status;
pub mod terminal;
mod test;
pub mod toolchain;
mod world;

pub use config::{devserver_beside_a_db, devservices_config, programs_only, uses_one_remote};
pub use docker::*;
pub use indoc::{formatdoc, indoc};
pub use process::*;
pub use registry_proxy::{Verdict, registry_proxy};
pub use spawned::Spawned;
pub use status::{assert_status_schema, program, supervisor_pid};
pub use test::{Output, Test, finish};
pub use world::*;
