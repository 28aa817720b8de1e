//! ReportLens engine: ingest -> plan -> run -> check -> store/export.
//!
//! The crate knows nothing about the desktop shell; everything the app does
//! is reachable from here and from the `reportlens` CLI.

pub mod app;
pub mod catalog;
pub mod check;
pub mod export;
pub mod ingest;
pub mod model;
mod panics;
pub mod paths;
pub mod plan;
pub mod prompt;
pub mod remote;
pub mod settings;
pub mod store;
pub mod tasks;

pub use panics::panic_message;

pub use ingest::{extract, Block, BlockKind, Document, Format, IngestError};
pub use model::{ModelError, ModelInfo};
pub use plan::{
    budget, make_plan, plan_file, Budget, FilePlan, Plan, PlanError, PlanOptions, Strategy,
};
pub use prompt::{Lang, SummaryMode, TaskSpec};
