//! The config file (TOML): paths, retention policy, canary queries and service commands
//! written once instead of on every cron line. `--config FILE` or `ATOCORE_CONFIG` names it;
//! nothing is read when neither does.
//!
//! Precedence: a command-line option, then its environment variable, then the config file.
//! The file is applied by giving each of its values to the option's environment variable when
//! the environment does not set it already, before the command line is parsed: so clap's own
//! rules (an option overrides its variable) give the order, and every setting that has a
//! variable can be in the file. Unknown keys are errors, not ignored.
//!
//! ```toml
//! backup_dir = "/var/backups/atocore"
//! lock_timeout = 120
//!
//! [stores]
//! db = "/srv/atocore/data/atocore.db"
//! chroma = "/srv/atocore/data/chroma"
//! registry = "/srv/atocore/config/project-registry.json"
//! canary_sql = ["SELECT count(*) FROM memories"]
//!
//! [prune]
//! keep_hourly = 24
//! keep_daily = 7
//! keep_pre_restore = "14d"
//!
//! [restore]
//! stop_cmd = "docker compose stop atocore"
//! start_cmd = "docker compose start atocore"
//! health_cmd = "curl -fsS http://127.0.0.1:8000/health"
//! health_timeout = 120
//! ```

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

use backup_core::Descriptor;

/// The environment variable that names the config file.
pub const CONFIG_ENV: &str = "ATOCORE_CONFIG";

/// What a key's value must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Text (a path, a command).
    Text,
    /// A whole number, 0 or more.
    Count,
    /// A duration such as `36h`, `7d`.
    Duration,
    /// A list of strings (one per line in the variable).
    List,
}

/// Keys outside `[stores]`, by section (`""` for the top level), their variables and kinds.
const FIXED: &[(&str, &str, &str, Kind)] = &[
    ("", "backup_dir", "ATOCORE_BACKUP_DIR", Kind::Text),
    ("", "lock_timeout", "ATOCORE_LOCK_TIMEOUT", Kind::Count),
    ("", "repo", "ATOCORE_REPO", Kind::Text),
    ("", "key_file", "ATOCORE_KEY_FILE", Kind::Text),
    ("copy", "to", "ATOCORE_COPY_TO", Kind::Text),
    ("copy", "key_file", "ATOCORE_COPY_TO_KEY_FILE", Kind::Text),
    ("s3", "endpoint", "ATOCORE_S3_ENDPOINT", Kind::Text),
    ("s3", "region", "ATOCORE_S3_REGION", Kind::Text),
    ("s3", "path_style", "ATOCORE_S3_PATH_STYLE", Kind::Text),
    ("s3", "retries", "ATOCORE_S3_RETRIES", Kind::Count),
    ("", "canary_timeout", "ATOCORE_CANARY_TIMEOUT", Kind::Count),
    ("prune", "keep_last", "ATOCORE_KEEP_LAST", Kind::Count),
    ("prune", "keep_hourly", "ATOCORE_KEEP_HOURLY", Kind::Count),
    ("prune", "keep_daily", "ATOCORE_KEEP_DAILY", Kind::Count),
    ("prune", "keep_weekly", "ATOCORE_KEEP_WEEKLY", Kind::Count),
    ("prune", "keep_monthly", "ATOCORE_KEEP_MONTHLY", Kind::Count),
    (
        "prune",
        "keep_within",
        "ATOCORE_KEEP_WITHIN",
        Kind::Duration,
    ),
    (
        "prune",
        "keep_pre_restore",
        "ATOCORE_KEEP_PRE_RESTORE",
        Kind::Duration,
    ),
    ("restore", "stop_cmd", "ATOCORE_STOP_CMD", Kind::Text),
    ("restore", "start_cmd", "ATOCORE_START_CMD", Kind::Text),
    ("restore", "health_cmd", "ATOCORE_HEALTH_CMD", Kind::Text),
    (
        "restore",
        "health_timeout",
        "ATOCORE_HEALTH_TIMEOUT",
        Kind::Count,
    ),
    (
        "restore",
        "stop_timeout",
        "ATOCORE_STOP_TIMEOUT",
        Kind::Count,
    ),
];

/// The variables this run's config file set (not set before it was read).
static SET_BY_FILE: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();

/// The variables the config file set for this run: the tool's settings, which the service
/// commands it runs do not inherit.
pub fn set_by_file() -> &'static [&'static str] {
    SET_BY_FILE.get().map_or(&[], Vec::as_slice)
}

/// The config file named by `--config FILE` / `--config=FILE` in `args`, else by the
/// environment.
fn named(args: &[OsString]) -> Option<PathBuf> {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        if a == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(v) = a.to_str().and_then(|s| s.strip_prefix("--config=")) {
            return Some(PathBuf::from(v));
        }
    }
    std::env::var_os(CONFIG_ENV).map(PathBuf::from)
}

/// A TOML value as the text its variable takes, if it is of `kind`: text as it is, a count
/// in decimal, a duration checked as `prune` reads it, a list of strings one per line (a
/// string alone is a list of one).
fn as_text(v: &toml::Value, kind: Kind) -> Result<String, &'static str> {
    match (kind, v) {
        (Kind::Text, toml::Value::String(s)) => Ok(s.clone()),
        (Kind::Text, _) => Err("must be a string"),
        (Kind::Count, toml::Value::Integer(i)) if *i >= 0 => Ok(i.to_string()),
        (Kind::Count, _) => Err("must be a whole number, 0 or more"),
        (Kind::Duration, toml::Value::String(s))
            if backup_core::Policy::parse_duration(s).is_ok() =>
        {
            Ok(s.clone())
        }
        (Kind::Duration, _) => Err("must be a duration such as \"36h\", \"7d\", \"2w\""),
        (Kind::List, toml::Value::String(s)) if !s.contains('\n') => Ok(s.clone()),
        (Kind::List, toml::Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().filter(|s| !s.contains('\n')).map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(|l| l.join("\n"))
            .ok_or("must be a list of one-line strings"),
        (Kind::List, _) => Err("must be a list of one-line strings"),
    }
}

/// The key → variable table: the fixed keys, and one `[stores]` key per component setting
/// (its option name with `_` for `-`).
fn variables(known: &[&Descriptor]) -> BTreeMap<(String, String), (&'static str, Kind)> {
    let mut out: BTreeMap<(String, String), (&'static str, Kind)> = FIXED
        .iter()
        .map(|(s, k, v, kind)| ((s.to_string(), k.to_string()), (*v, *kind)))
        .collect();
    for d in known {
        for s in std::iter::once(&d.path).chain(d.settings) {
            out.insert(
                ("stores".into(), s.flag.replace('-', "_")),
                (s.env, Kind::Text),
            );
        }
        for s in d.lists {
            out.insert(
                ("stores".into(), s.flag.replace('-', "_")),
                (s.env, Kind::List),
            );
        }
    }
    out
}

/// Read the config file, if one is named, and give each of its values to its environment
/// variable unless the environment sets that already. Call before the command line is
/// parsed and before any thread starts.
///
/// # Errors
/// The file cannot be read, is not TOML, has a key this build does not know or a value of the
/// wrong type, or (as root) can be changed by others: a sentence naming the file.
pub fn apply(args: &[OsString], known: &[&Descriptor]) -> Result<(), String> {
    let Some(path) = named(args) else {
        return Ok(());
    };
    let shown = path.display();
    // The file's service commands run as whoever runs the tool: as root, a file others can
    // change would let them run anything as root.
    if backup_core::fsio::is_root() {
        if let Some((p, why)) = backup_core::fsio::changeable_by_others(&path) {
            return Err(format!(
                "config {shown}: {} {why}; a config file run as root must be root's and \
                 writable by root only",
                p.display()
            ));
        }
    }
    let f = backup_core::fsio::open_regular(&path).map_err(|e| format!("config {shown}: {e}"))?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(f, 1 << 20), &mut text)
        .map_err(|e| format!("config {shown}: cannot be read as UTF-8 text: {e}"))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| format!("config {shown}: not valid TOML: {}", e.message()))?;
    let vars = variables(known);
    let mut set = Vec::new();
    for (key, value) in &table {
        let entries: Vec<(String, &String, &toml::Value)> = match value {
            toml::Value::Table(t) => t.iter().map(|(k, v)| (key.clone(), k, v)).collect(),
            _ => vec![(String::new(), key, value)],
        };
        for (section, k, v) in entries {
            let name = if section.is_empty() {
                k.clone()
            } else {
                format!("{section}.{k}")
            };
            let Some(&(var, kind)) = vars.get(&(section.clone(), k.clone())) else {
                let known_keys: Vec<String> = vars
                    .keys()
                    .map(|(s, k)| {
                        if s.is_empty() {
                            k.clone()
                        } else {
                            format!("{s}.{k}")
                        }
                    })
                    .collect();
                return Err(format!(
                    "config {shown}: unknown key {name:?}; known keys: {}",
                    known_keys.join(", ")
                ));
            };
            let text = as_text(v, kind).map_err(|why| format!("config {shown}: {name} {why}"))?;
            set.push((var, text));
        }
    }
    let mut mine = Vec::new();
    for (var, text) in set {
        if std::env::var_os(var).is_none() {
            std::env::set_var(var, text);
            mine.push(var);
        }
    }
    let _ = SET_BY_FILE.set(mine);
    Ok(())
}
