//! The command-line definition.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Back up, validate and restore the AtoCore runtime store: the SQLite database, the project
/// registry and the Chroma vector store.
#[derive(Debug, Parser)]
#[command(name = "atocore-backup", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options accepted before or after the subcommand.
#[derive(Debug, Args)]
pub struct Global {
    /// The live SQLite database file.
    #[arg(long, env = "ATOCORE_DB_PATH", global = true, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// The live project-registry JSON file.
    #[arg(
        long,
        env = "ATOCORE_PROJECT_REGISTRY_PATH",
        global = true,
        value_name = "FILE"
    )]
    pub registry: Option<PathBuf>,
    /// The live Chroma persist folder.
    #[arg(long, env = "ATOCORE_CHROMA_PATH", global = true, value_name = "DIR")]
    pub chroma: Option<PathBuf>,
    /// The service's exclusive-ingestion lock file, held while Chroma is copied
    /// [default: <chroma dir>/../.ingestion.lock].
    #[arg(
        long,
        env = "ATOCORE_INGESTION_LOCK",
        global = true,
        value_name = "FILE"
    )]
    pub ingestion_lock: Option<PathBuf>,
    /// Where snapshots are kept (`<backup-dir>/snapshots/<stamp>/`).
    #[arg(long, env = "ATOCORE_BACKUP_DIR", global = true, value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,
    /// Print results as JSON on stdout (messages still go to stderr).
    #[arg(long, global = true)]
    pub json: bool,
    /// How long to wait for another run's lock on the backup dir or live store before giving up.
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 60)]
    pub lock_timeout: u64,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Take a snapshot of the live database, registry and Chroma folder.
    Create {
        /// Do not capture Chroma even when a Chroma path is configured.
        #[arg(long)]
        no_chroma: bool,
    },
    /// List snapshots, newest first.
    List,
    /// Check a snapshot: manifest, checksums, unlisted files, each component's own checks.
    Validate {
        /// The snapshot stamp (YYYYMMDDTHHMMSSZ).
        stamp: String,
    },
    /// Restore a snapshot over the live store (or into another folder with --to).
    Restore(RestoreArgs),
    /// Validate a snapshot, restore it into a scratch folder, verify it there, log the result.
    Drill(DrillArgs),
    /// Remove temporary folders left by interrupted runs.
    Cleanup,
    /// Show unfinished restores, leftovers and locks.
    Status,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["stamp", "resume", "rollback"]))]
pub struct RestoreArgs {
    /// The snapshot stamp (YYYYMMDDTHHMMSSZ).
    pub stamp: Option<String>,
    /// Finish an unfinished restore by rolling forward to the snapshot its journal names.
    #[arg(long, conflicts_with_all = ["stamp", "rollback", "to", "no_pre_snapshot", "no_chroma"])]
    pub resume: bool,
    /// Finish an unfinished restore by returning to the pre-restore snapshot its journal names.
    #[arg(long, conflicts_with_all = ["stamp", "to", "no_pre_snapshot", "no_chroma"])]
    pub rollback: bool,
    /// Confirm the service is stopped; required to restore over live files.
    #[arg(long)]
    pub confirm_service_stopped: bool,
    /// Do not take the pre-restore safety snapshot of the live state.
    #[arg(long)]
    pub no_pre_snapshot: bool,
    /// Restore into this folder instead of over the live files (nothing there may exist yet).
    #[arg(long, value_name = "DIR")]
    pub to: Option<PathBuf>,
    /// Leave the live Chroma folder alone even when the snapshot holds one.
    #[arg(long)]
    pub no_chroma: bool,
}

#[derive(Debug, Args)]
pub struct DrillArgs {
    /// The snapshot to drill (default: the newest regular one).
    pub stamp: Option<String>,
    /// Build a small sample store in a scratch folder, back it up, change it, and drill that
    /// (ignores configured paths).
    #[arg(long, conflicts_with = "stamp")]
    pub sample: bool,
}
