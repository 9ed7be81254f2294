//! backup-core: the [`Component`] trait, the [`Manifest`], the [`Orchestrator`] that runs
//! components in order, hashing, and durable staging. It knows no storage engine, no
//! command line and no terminal: component crates plug in, the binary prints.

mod component;
mod descriptor;
mod error;
mod facts;
pub mod fsio;
pub mod interrupt;
mod journal;
pub mod lock;
mod manifest;
mod orchestrator;
pub mod procs;
pub mod progress;
mod sha;
mod stamp;
mod store;
mod switch;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use component::LocalCopy;
pub use component::{
    files_below, skipped_below, summarize, walk, Component, Evidence, FileState, SnapshotFiles,
    Staging, Standing, Walked,
};
pub use descriptor::{build_all, Configured, Descriptor, Setting};
pub use error::{signal_name, Error, IoContext, Problem, Result};
pub use facts::Facts;
pub use fsio::{Dir, Owner};
pub use journal::{Journal, Phase, Step, JOURNAL_NAME};
pub use manifest::{
    is_safe_id, path_serde, ChunkList, ComponentRecord, FileEntry, FolderEntry, Kind, Manifest,
    RecordedPath, FORMAT_VERSION, MANIFEST_NAME, OLDEST_FORMAT_VERSION, PLAIN_FORMAT_VERSION,
};
pub use orchestrator::{
    CheckLogLine, Cleanup, ComponentOutcome, Confirmation, DrillReport, Imported, Listed,
    Migration, Orchestrator, RestoreOptions, RestoreReport, Source, Targets, Validation, CHECK_LOG,
    CHECK_LOG_VERSION, DRILL_LOG, DRILL_LOG_VERSION, DRILL_SCRATCH_PREFIX,
};
pub use progress::Progress;
pub use stamp::{parse_rfc3339, rfc3339, span, Stamp};
pub use store::{
    leases, prune_plan, sealed_offset, Added, CheckReport, Encryption, FolderStore, Found, Key,
    Lease, LeaseKind, LeaseRecord, Listing, LocalObjects, ObjectSnapshotStore, ObjectStore,
    Pending, Policy, PrunePlan, PruneReport, RangedObject, ReadData, Reason, Repository, Sealed,
    SnapshotStore, CACHE_DIR, CIPHER,
};
pub use switch::{is_own_temp, temp_name, Replacement, TEMP_SUFFIX};

/// A named point in a long operation where tests can stop the process. In builds with the
/// `failpoints` feature, when `ATOCORE_FAILPOINT` equals `name`, the process prints
/// `failpoint <name> reached` on stderr and waits there, for the test to SIGKILL it or to
/// send SIGINT/SIGTERM (which let it go on to its next safe point, unless
/// `ATOCORE_FAILPOINT_STUCK` is set: then it stays, as a run stuck in one long SQLite step
/// would). With `ATOCORE_FAILPOINT_PAUSE_MS` it waits that long and goes on by itself, for a
/// test to change something in between (a race made certain). In every other build it does
/// nothing.
#[inline]
pub fn failpoint(name: &str) {
    #[cfg(feature = "failpoints")]
    if std::env::var("ATOCORE_FAILPOINT").is_ok_and(|v| v == name) {
        eprintln!("failpoint {name} reached");
        if let Some(ms) = std::env::var("ATOCORE_FAILPOINT_PAUSE_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            std::thread::sleep(std::time::Duration::from_millis(ms));
            return;
        }
        let stuck = std::env::var_os("ATOCORE_FAILPOINT_STUCK").is_some();
        while stuck || interrupt::requested().is_none() {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    #[cfg(not(feature = "failpoints"))]
    let _ = name;
}
