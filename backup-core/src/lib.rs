//! backup-core: the [`Component`] trait, the [`Manifest`], the [`Orchestrator`] that runs
//! components in order, hashing, and durable staging. It knows no storage engine, no
//! command line and no terminal: component crates plug in, the binary prints.

mod component;
mod error;
pub mod fsio;
mod manifest;
mod orchestrator;
mod stamp;
mod store;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use component::{Component, Facts, SnapshotFiles, Staging};
pub use error::{Error, IoContext, Problem, Result};
pub use manifest::{
    is_safe_id, ComponentRecord, FileEntry, Kind, Manifest, FORMAT_VERSION, MANIFEST_NAME,
};
pub use orchestrator::{
    ComponentOutcome, DrillReport, Listed, Orchestrator, RestoreOptions, RestoreReport, Source,
    Targets, Validation, DRILL_LOG, DRILL_SCRATCH_PREFIX,
};
pub use stamp::{rfc3339, Stamp};
pub use store::{FolderStore, Listing, Pending, SnapshotStore};
