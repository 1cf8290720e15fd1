//! pxtrack: email open and click tracking with no application server and no database.
//!
//! The library is a pipeline, one module per stage:
//!
//! ```text
//! mint:    token (sign) -> manifest (CSV row)                  nginx (config from the manifest)
//! analyze: logfiles -> logparse::LogLine -> hit::Event -> classify::Verdict
//!          -> aggregate::Stats -> report (views, pages, events.csv)
//! ```
//!
//! `ingest` runs the per-line part of analyze (parse, resolve, count rejects); `pipeline` runs it
//! on every core and streams the events out in time order, so nothing holds the whole log.
//! `model` holds the vocabulary the analysis stages share (kinds, token status, classes,
//! headers, geo), so that they depend on it rather than on each other; `logformat` is the log
//! format both `nginx` and `logparse` use; `fast` holds the machine-level helpers; `outdir`
//! replaces output directories whole. The binary's command layer (`src/cmd/`) parses the command
//! line, reads the environment, opens files, draws the progress bar and wires the stages
//! together; no module here touches the command line, the environment, or prints.

pub mod aggregate;
pub mod analysis;
pub mod classify;
pub mod config;
pub mod enrich;
pub mod error;
pub mod fast;
pub mod hit;
pub mod ingest;
pub mod logfiles;
pub mod logformat;
pub mod logparse;
pub mod manifest;
pub mod model;
pub mod nginx;
pub mod outdir;
pub mod pipeline;
pub mod recipients;
pub mod report;
pub mod rewrite;
pub mod rules;
pub mod sends;
pub mod time;
pub mod token;

pub use error::{Error, Result};
