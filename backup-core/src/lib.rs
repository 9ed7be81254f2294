//! backup-core: the [`Component`] trait, the [`Manifest`], the [`Orchestrator`] that runs
//! components in order, hashing, and durable staging. It knows no storage engine, no
//! command line and no terminal: component crates plug in, the binary prints.

mod component;
mod error;
pub mod fsio;
mod journal;
pub mod lock;
mod manifest;
mod orchestrator;
pub mod procs;
mod stamp;
mod store;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use component::{Component, Facts, SnapshotFiles, Staging};
pub use error::{Error, IoContext, Problem, Result};
pub use journal::{Journal, Phase, Step, JOURNAL_NAME};
pub use manifest::{
    is_safe_id, ComponentRecord, FileEntry, Kind, Manifest, FORMAT_VERSION, MANIFEST_NAME,
};
pub use orchestrator::{
    ComponentOutcome, DrillReport, Listed, Orchestrator, RestoreOptions, RestoreReport, Source,
    Targets, Validation, DRILL_LOG, DRILL_SCRATCH_PREFIX,
};
pub use stamp::{rfc3339, Stamp};
pub use store::{FolderStore, Listing, Pending, SnapshotStore};

/// A named point in a long operation where tests can stop the process. In builds with the
/// `failpoints` feature, when `ATOCORE_FAILPOINT` equals `name`, the process prints
/// `failpoint <name> reached` on stderr and waits there forever, for the test to SIGKILL it.
/// In every other build it does nothing.
#[inline]
pub fn failpoint(name: &str) {
    #[cfg(feature = "failpoints")]
    if std::env::var("ATOCORE_FAILPOINT").is_ok_and(|v| v == name) {
        eprintln!("failpoint {name} reached");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
    #[cfg(not(feature = "failpoints"))]
    let _ = name;
}
