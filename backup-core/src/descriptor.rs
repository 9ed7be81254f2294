//! How a component introduces itself to a front end: its id, what it captures, the option
//! and environment variable that name its live store, whether every snapshot needs it, and
//! how to build it. A front end (the CLI) builds its options, `--skip`, the source list, the
//! summaries and the JSON from these, so it never names a component.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::component::Component;

/// One setting a component takes from the command line or the environment: its live path, or
/// an extra one (Chroma's ingestion lock).
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// The long option, without dashes (`db`, `chroma`, `ingestion-lock`).
    pub flag: &'static str,
    /// The environment variable that gives it when the option is not passed.
    pub env: &'static str,
    /// `FILE` or `DIR`, for the help text.
    pub value_name: &'static str,
    /// One line of help.
    pub help: &'static str,
}

/// A component's introduction. Every field is stable: ids name folders in snapshots, keys
/// appear in scripts that read the JSON output.
#[derive(Debug)]
pub struct Descriptor {
    /// The component's id, as [`Component::id`] returns it.
    pub id: &'static str,
    /// What it captures, in a few words ("the SQLite database").
    pub what: &'static str,
    /// The setting that names its live store.
    pub path: Setting,
    /// Any further settings it takes.
    pub settings: &'static [Setting],
    /// Settings that may be given more than once (each option a value; in the environment
    /// variable, one value per line): SQLite's canary queries.
    pub lists: &'static [Setting],
    /// Whether every regular snapshot must hold it: `create` refuses when it is not
    /// configured, and `--skip` cannot leave it out of a snapshot.
    pub required: bool,
    /// Its key among the restore output's booleans (`db_restored`), kept as the service's
    /// original tool named them.
    pub restored_key: &'static str,
    /// Build the component from the configured settings.
    pub build: fn(&Configured) -> Box<dyn Component>,
}

/// The settings a front end gathered: values by option name, and the general ones.
#[derive(Debug, Clone, Default)]
pub struct Configured {
    values: BTreeMap<&'static str, PathBuf>,
    lists: BTreeMap<&'static str, Vec<String>>,
    /// How long to wait for another process's lock.
    pub lock_timeout: Duration,
}

impl Configured {
    /// No settings yet; `lock_timeout` as given.
    pub fn new(lock_timeout: Duration) -> Self {
        Configured {
            values: BTreeMap::new(),
            lists: BTreeMap::new(),
            lock_timeout,
        }
    }

    /// Record the value of the option `flag`.
    pub fn set(&mut self, flag: &'static str, value: PathBuf) {
        self.values.insert(flag, value);
    }

    /// The value of the option `flag`, if given.
    pub fn get(&self, flag: &str) -> Option<&Path> {
        self.values.get(flag).map(PathBuf::as_path)
    }

    /// Add `value` to the list setting `flag`.
    pub fn push(&mut self, flag: &'static str, value: String) {
        self.lists.entry(flag).or_default().push(value);
    }

    /// The values of the list setting `flag`, in the order given.
    pub fn get_all(&self, flag: &str) -> &[String] {
        self.lists.get(flag).map_or(&[], Vec::as_slice)
    }
}

/// Every component of `known`, built from `configured`, in the order given (the order
/// `create` captures and `restore` switches in).
pub fn build_all(known: &[&Descriptor], configured: &Configured) -> Vec<Box<dyn Component>> {
    known.iter().map(|d| (d.build)(configured)).collect()
}
