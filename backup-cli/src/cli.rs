//! The command-line definition. The options that name live stores (and any further setting a
//! component takes), `--skip`'s choices and the `--no-<store>` aliases are added from the
//! component descriptors at start-up: this file names no component.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use backup_core::{Configured, Descriptor, Setting};
use clap::{Arg, ArgAction, ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

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
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Where snapshots are kept: a repository of deduplicated, compressed chunks (a new
    /// backup dir), or plain snapshot folders (`<backup-dir>/snapshots/<stamp>/`, a backup
    /// dir made by an earlier release, until `migrate`).
    #[arg(long, env = "ATOCORE_BACKUP_DIR", global = true, value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,
    /// Print results as JSON on stdout (messages still go to stderr).
    #[arg(long, global = true)]
    pub json: bool,
    /// Draw no progress bar (one is drawn on stderr only when it is a terminal).
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// How long to wait for another run's lock on the backup dir or live store before giving up.
    #[arg(
        long,
        env = "ATOCORE_LOCK_TIMEOUT",
        global = true,
        value_name = "SECONDS",
        default_value_t = 60
    )]
    pub lock_timeout: u64,
    /// Read settings from this TOML file (docs/config.md); options and environment variables
    /// override it.
    #[arg(long, env = "ATOCORE_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Keep the repository on object storage, `s3://BUCKET/PREFIX`, instead of in the backup
    /// dir (which then holds only the local state: journal, locks, drill log, index cache).
    /// Credentials come from the environment or the AWS files only (docs/offhost.md).
    #[arg(long, env = "ATOCORE_REPO", global = true, value_name = "ADDRESS")]
    pub repo: Option<String>,
    /// The endpoint of an S3-compatible store other than AWS (`https://host:port`).
    #[arg(long, env = "ATOCORE_S3_ENDPOINT", global = true, value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// The region of the bucket (default: AWS_REGION, the AWS config file, else us-east-1).
    #[arg(long, env = "ATOCORE_S3_REGION", global = true, value_name = "REGION")]
    pub s3_region: Option<String>,
    /// Address buckets by path (`endpoint/bucket/key`), as most stores other than AWS need.
    #[arg(long, env = "ATOCORE_S3_PATH_STYLE", global = true)]
    pub s3_path_style: bool,
    /// How many times a failed request to object storage is tried again (with backoff).
    #[arg(
        long,
        env = "ATOCORE_S3_RETRIES",
        global = true,
        value_name = "N",
        default_value_t = 10
    )]
    pub s3_retries: usize,
    /// The repository key: a file holding 64 hexadecimal digits (`key generate FILE`); or
    /// the key itself in ATOCORE_KEY. Every object but the config is then encrypted.
    #[arg(long, env = "ATOCORE_KEY_FILE", global = true, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Keep a repository on object storage without encryption (anyone who can read the
    /// bucket can read the backups).
    #[arg(long, env = "ATOCORE_INSECURE_NO_ENCRYPTION", global = true)]
    pub insecure_no_encryption: bool,
    /// The second place snapshots are copied to (`s3://BUCKET/PREFIX` or a local folder):
    /// `copy` sends what it lacks, `list` shows which snapshots it has.
    #[arg(long, env = "ATOCORE_COPY_TO", global = true, value_name = "ADDRESS")]
    pub copy_to: Option<String>,
    /// The key of the second place, when it is not the repository's own key.
    #[arg(
        long,
        env = "ATOCORE_COPY_TO_KEY_FILE",
        global = true,
        value_name = "FILE"
    )]
    pub copy_to_key_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Take a snapshot of the live database, registry and Chroma folder.
    Create {
        /// Leave this store out of the snapshot even when its path is configured (repeat
        /// for more than one).
        #[arg(long, value_name = "ID")]
        skip: Vec<String>,
    },
    /// List snapshots, newest first.
    List,
    /// Check a snapshot: manifest, checksums, unlisted files, each component's own checks.
    Validate {
        /// The snapshot stamp (YYYYMMDDTHHMMSSZ).
        stamp: String,
        /// Also search every Chroma collection's index and measure its recall against brute
        /// force (as every restore and drill does when it verifies).
        #[arg(long)]
        deep: bool,
    },
    /// Restore a snapshot over the live store (or into another folder with --to).
    Restore(RestoreArgs),
    /// Validate a snapshot, restore it into a scratch folder, verify it there, log the result.
    Drill(DrillArgs),
    /// Remove temporary folders left by interrupted runs.
    Cleanup,
    /// Show the newest snapshot, the last drill and check and their ages, the repository size,
    /// unfinished restores, leftovers and locks (and write them as Prometheus metrics).
    Status(StatusArgs),
    /// Check the whole repository: every manifest, every chunk it needs, every index against
    /// its pack, and with --read-data every byte.
    Check(CheckArgs),
    /// Print a completion script for a shell on stdout (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page on stdout, or write one page per command into a folder.
    Man {
        /// Write `atocore-backup.1` and a page per subcommand (`atocore-backup-create.1`, ...)
        /// into this folder instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Remove snapshots a retention policy does not keep, and the data only they needed.
    Prune(PruneArgs),
    /// Import the plain snapshot folders of a backup dir made by an earlier release into a
    /// repository in the same backup dir, or into the one --repo names (the folders are left
    /// for you to remove).
    Migrate,
    /// Send the snapshots a second place lacks (`--to ADDRESS`, else --copy-to /
    /// ATOCORE_COPY_TO) and read each back from there, checking every file's SHA-256.
    Copy {
        /// Where to: `s3://BUCKET/PREFIX`, or a local folder (a repository).
        #[arg(long, value_name = "ADDRESS")]
        to: Option<String>,
        /// Only these snapshots (default: every one the second place lacks).
        stamps: Vec<String>,
    },
    /// Repository keys: `key generate FILE` writes a new random key (mode 0600, never over
    /// an existing file); `key id` prints the id of the key given.
    Key {
        #[command(subcommand)]
        action: KeyAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyAction {
    /// Write a new random key into FILE (which must not exist).
    Generate {
        /// Where to write it.
        file: PathBuf,
    },
    /// Print the id of the key given by --key-file or ATOCORE_KEY (what the repository's
    /// config records; never the key).
    Id,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Also read every pack and check every chunk's hash.
    #[arg(long, conflicts_with = "read_data_subset")]
    pub read_data: bool,
    /// Read only part of the data: N/M reads the N-th of M slices (run 1/7 to 7/7 on
    /// successive nights to cover everything in a week); P% reads about P percent, at random.
    #[arg(long, value_name = "N/M|P%")]
    pub read_data_subset: Option<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Keep the newest N snapshots.
    #[arg(long, env = "ATOCORE_KEEP_LAST", value_name = "N")]
    pub keep_last: Option<u32>,
    /// Keep the newest snapshot of each of the last N hours that have one.
    #[arg(long, env = "ATOCORE_KEEP_HOURLY", value_name = "N")]
    pub keep_hourly: Option<u32>,
    /// Keep the newest snapshot of each of the last N days (UTC) that have one.
    #[arg(long, env = "ATOCORE_KEEP_DAILY", value_name = "N")]
    pub keep_daily: Option<u32>,
    /// Keep the newest snapshot of each of the last N weeks (Monday to Sunday, UTC).
    #[arg(long, env = "ATOCORE_KEEP_WEEKLY", value_name = "N")]
    pub keep_weekly: Option<u32>,
    /// Keep the newest snapshot of each of the last N months (UTC).
    #[arg(long, env = "ATOCORE_KEEP_MONTHLY", value_name = "N")]
    pub keep_monthly: Option<u32>,
    /// Keep every snapshot taken within DURATION of the newest (36h, 7d, 2w, 6m, 1y).
    #[arg(long, env = "ATOCORE_KEEP_WITHIN", value_name = "DURATION", value_parser = duration)]
    pub keep_within: Option<u64>,
    /// Keep pre-restore safety snapshots younger than DURATION (from now).
    #[arg(
        long,
        env = "ATOCORE_KEEP_PRE_RESTORE",
        value_name = "DURATION",
        value_parser = duration,
        default_value = "7d"
    )]
    pub keep_pre_restore: u64,
    /// Print the plan (what is kept and why, what goes, bytes freed) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

fn duration(s: &str) -> Result<u64, String> {
    backup_core::Policy::parse_duration(s)
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["stamp", "resume", "rollback"]))]
pub struct RestoreArgs {
    /// The snapshot stamp (YYYYMMDDTHHMMSSZ).
    pub stamp: Option<String>,
    /// Finish an unfinished restore by rolling forward to the snapshot its journal names.
    #[arg(long, conflicts_with_all = ["stamp", "rollback", "to", "no_pre_snapshot", "skip"])]
    pub resume: bool,
    /// Finish an unfinished restore by returning to the pre-restore snapshot its journal names.
    #[arg(long, conflicts_with_all = ["stamp", "to", "no_pre_snapshot", "skip"])]
    pub rollback: bool,
    /// Confirm the service is stopped; required to restore over live files.
    #[arg(long)]
    pub confirm_service_stopped: bool,
    /// Do not take the pre-restore safety snapshot of the live state.
    #[arg(long)]
    pub no_pre_snapshot: bool,
    /// Restore over live stores even when the snapshot's schema differs from theirs (an
    /// older database schema, another Chroma migration level): going back past a migration.
    #[arg(long, conflicts_with_all = ["resume", "rollback", "to"])]
    pub allow_schema_change: bool,
    /// Restore into this folder instead of over the live files (nothing there may exist yet).
    #[arg(long, value_name = "DIR")]
    pub to: Option<PathBuf>,
    /// Leave this live store alone even when the snapshot holds it (repeat for more than
    /// one).
    #[arg(long, value_name = "ID")]
    pub skip: Vec<String>,
    /// Stop the service with this shell command first (implies --confirm-service-stopped;
    /// the restore still waits until nothing holds the live store open). Only for a restore
    /// over the live store: not used with --to, --resume or --rollback.
    #[arg(long, env = "ATOCORE_STOP_CMD", value_name = "CMD")]
    pub stop_cmd: Option<String>,
    /// Whether `stop_cmd` came from the command line (not the environment or config file).
    #[arg(skip)]
    pub stop_cmd_on_command_line: bool,
    /// Start the service with this shell command after the restore, only when every
    /// restored store verified.
    #[arg(long, env = "ATOCORE_START_CMD", value_name = "CMD")]
    pub start_cmd: Option<String>,
    /// After the start command, run this shell command once a second until it succeeds.
    #[arg(long, env = "ATOCORE_HEALTH_CMD", value_name = "CMD")]
    pub health_cmd: Option<String>,
    /// How long the health command may keep failing.
    #[arg(
        long,
        env = "ATOCORE_HEALTH_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = 120
    )]
    pub health_timeout: u64,
    /// How long to wait, after the stop command, for the service to let go of the store.
    #[arg(
        long,
        env = "ATOCORE_STOP_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = 60
    )]
    pub stop_timeout: u64,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Also write the same as Prometheus metrics to FILE (a node_exporter textfile; written
    /// to a temporary name and renamed, so a scrape never reads half a file).
    #[arg(long, value_name = "FILE")]
    pub prometheus: Option<PathBuf>,
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

/// The parsed command line: clap's part and the components' settings.
pub struct Parsed {
    pub cli: Cli,
    pub configured: Configured,
}

/// The subcommands that take `--skip` and its `--no-<store>` aliases.
const SKIPPING: [&str; 2] = ["create", "restore"];

/// What `--version` prints after the version: the formats this build writes and reads.
pub fn long_version() -> String {
    format!(
        "{}\nmanifest format {} (reads {} to {}); JSON output format {}; drill log format {}; \
         check log format {}",
        env!("CARGO_PKG_VERSION"),
        backup_core::FORMAT_VERSION,
        backup_core::OLDEST_FORMAT_VERSION,
        backup_core::FORMAT_VERSION,
        backup_cli::json::FORMAT_VERSION,
        backup_core::DRILL_LOG_VERSION,
        backup_core::CHECK_LOG_VERSION
    )
}

/// The command with every component's options added.
pub fn command(known: &[&Descriptor]) -> clap::Command {
    let mut cmd = Cli::command().long_version(long_version());
    let option = |s: &Setting| {
        Arg::new(s.flag)
            .long(s.flag)
            .env(s.env)
            .global(true)
            .value_name(s.value_name)
            .help(s.help)
    };
    for d in known {
        for s in std::iter::once(&d.path).chain(d.settings) {
            cmd = cmd.arg(option(s).value_parser(clap::value_parser!(PathBuf)));
        }
        for s in d.lists {
            cmd = cmd.arg(option(s).action(ArgAction::Append));
        }
    }
    let ids: Vec<&'static str> = known.iter().map(|d| d.id).collect();
    for sub in SKIPPING {
        cmd = cmd.mut_subcommand(sub, |mut c| {
            c = c.mut_arg("skip", |a| {
                a.value_parser(clap::builder::PossibleValuesParser::new(ids.clone()))
            });
            // `--no-chroma` and the like: the older spelling of `--skip chroma`.
            for d in known.iter().filter(|d| !d.required) {
                let mut a = Arg::new(format!("no-{}", d.path.flag))
                    .long(format!("no-{}", d.path.flag))
                    .action(ArgAction::SetTrue)
                    .hide(true);
                if sub == "restore" {
                    a = a.conflicts_with_all(["resume", "rollback"]);
                }
                c = c.arg(a);
            }
            c
        });
    }
    cmd
}

/// Parse the command line (exits with clap's message and code 2 on a mistake).
pub fn parse(known: &[&Descriptor]) -> Parsed {
    parse_from(known, std::env::args_os())
}

fn parse_from(known: &[&Descriptor], args: impl IntoIterator<Item = OsString>) -> Parsed {
    let matches = command(known).get_matches_from(args);
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let mut configured = Configured::new(Duration::from_secs(cli.global.lock_timeout));
    for d in known {
        for s in std::iter::once(&d.path).chain(d.settings) {
            if let Some(v) = matches.get_one::<PathBuf>(s.flag) {
                configured.set(s.flag, v.clone());
            }
        }
        for s in d.lists {
            // One value per option; the environment variable (and so the config file) holds
            // one per line.
            let from_env =
                matches.value_source(s.flag) == Some(clap::parser::ValueSource::EnvVariable);
            for v in matches.get_many::<String>(s.flag).into_iter().flatten() {
                let parts: Vec<&str> = if from_env {
                    v.split('\n').collect()
                } else {
                    vec![v.as_str()]
                };
                for p in parts.into_iter().filter(|p| !p.trim().is_empty()) {
                    configured.push(s.flag, p.to_owned());
                }
            }
        }
    }
    if let Some((name, sub)) = matches.subcommand() {
        let aliases = no_aliases(known, sub);
        match &mut cli.command {
            Command::Create { skip } if name == "create" => skip.extend(aliases),
            Command::Restore(args) if name == "restore" => {
                args.skip.extend(aliases);
                args.stop_cmd_on_command_line =
                    sub.value_source("stop_cmd") == Some(clap::parser::ValueSource::CommandLine);
            }
            _ => {}
        }
    }
    Parsed { cli, configured }
}

/// The ids that `--no-<store>` flags asked to skip.
fn no_aliases(known: &[&Descriptor], sub: &ArgMatches) -> Vec<String> {
    known
        .iter()
        .filter(|d| !d.required)
        .filter(|d| {
            sub.try_get_one::<bool>(&format!("no-{}", d.path.flag))
                .ok()
                .flatten()
                .copied()
                .unwrap_or(false)
        })
        .map(|d| d.id.to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        command(backup_cli::components::KNOWN).debug_assert();
    }

    #[test]
    fn every_descriptor_becomes_options_and_no_aliases_become_skips() {
        let known = backup_cli::components::KNOWN;
        let optional = known.iter().find(|d| !d.required).unwrap();
        let mut args: Vec<OsString> = vec!["atocore-backup".into(), "create".into()];
        for d in known {
            args.push(format!("--{}", d.path.flag).into());
            args.push(format!("/srv/{}", d.id).into());
        }
        args.push(format!("--no-{}", optional.path.flag).into());
        let p = parse_from(known, args);
        for d in known {
            assert_eq!(
                p.configured.get(d.path.flag),
                Some(std::path::Path::new(&format!("/srv/{}", d.id)))
            );
        }
        match p.cli.command {
            Command::Create { skip } => assert_eq!(skip, vec![optional.id.to_owned()]),
            other => panic!("parsed as {other:?}"),
        }
    }
}
