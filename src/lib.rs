//! devrig: Sentry's devservices and devenv in one binary.
//!
//! The modules follow the data, config → plan → engine/supervisor →
//! output, and a module only calls the ones after it:
//!
//! - `cli`: the command line; one file per command that turns arguments
//!   into an operation's options and renders its report (`cli/render.rs`
//!   shows events as they happen, `cli/report.rs` lays out errors).
//! - `ops`: the operations behind the commands (up, down, status, logs,
//!   reset, purge, toggle, serve, foreground, doctor, sync, config, the
//!   service lists, init): typed options in, events to an observer, a
//!   report or a typed error (with its hint and exit code) out.
//! - `config`: one `devservices/config.yml`, parsed with positions,
//!   interpolated like compose, typed and validated.
//! - `plan`: modes and remote repos resolved into projects, start levels
//!   and conflicts.
//! - `stack`: a plan's containers on the engine (up, down, status, logs,
//!   reset, purge), progress as events; `state`: who uses which project.
//! - `engine`: the Docker Engine API behind one door (bollard stays in
//!   here): endpoint resolution, pulls, containers, probes, compose naming.
//! - `supervisor`: programs on the host: the foreground pseudo-terminal,
//!   the per-repo supervisor (a state machine per program, `machine`), its
//!   guardian, socket protocol, client and rotated logs.
//! - `toolchain`: `doctor`'s checks (one registry, `docker.*` included)
//!   and `sync`'s steps.
//! - `ui`: the printer (all output, colors, the live progress area) and
//!   diagnostics.
//! - `store`: a locked JSON file (the state, sync's records); `private`:
//!   devrig's own directories 0700 and files 0600; `exit`: the
//!   exit codes; `graph`: ordering and cycles; `templates`: `init`'s
//!   configs; `sys`: the one place for calls that differ between operating
//!   systems (`/proc`, `prctl`, and their stand-ins elsewhere).
//!
//! Only what the binary and the integration tests use is public.

// Errors here carry positions, hints and paths for the user; they are built
// once on a cold path, so their size does not matter.
#![allow(clippy::result_large_err)]
#![warn(missing_docs)]

pub mod cli;
pub mod config;
pub(crate) mod engine;
pub(crate) mod exit;
pub(crate) mod graph;
pub(crate) mod ops;
pub(crate) mod plan;
pub(crate) mod private;
pub(crate) mod stack;
pub(crate) mod state;
pub(crate) mod store;
pub(crate) mod supervisor;
pub(crate) mod sys;
pub mod templates;
pub mod toolchain;
pub(crate) mod ui;
