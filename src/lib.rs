//! devrig: Sentry's devservices and devenv in one binary.
//!
//! The modules follow the data: `config` (one file, parsed and validated) →
//! `plan` (modes and remote repos resolved into what starts, in what order) →
//! `cli`/`ui` (commands and output).
//!
//! `sys` is the one place for calls that differ between operating systems
//! (`/proc`, `prctl`, and their stand-ins elsewhere).

// Errors here carry positions, hints and paths for the user; they are built
// once on a cold path, so their size does not matter.
#![allow(clippy::result_large_err)]

pub mod cli;
pub mod config;
pub mod engine;
pub mod exit;
pub mod graph;
pub mod ops;
pub mod plan;
pub mod stack;
pub mod state;
pub mod store;
pub mod supervisor;
pub mod sys;
pub mod templates;
pub mod toolchain;
pub mod ui;
