//! The snapshot manifest, `backup-metadata.json`: what was captured, from where, and the
//! size and SHA-256 of every file. Its format is public API: a change that old readers would
//! misread bumps [`FORMAT_VERSION`].

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component as PathPart, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsio::Owner;

/// Name of the manifest file inside a snapshot folder.
pub const MANIFEST_NAME: &str = "backup-metadata.json";
/// The newest manifest format this build reads and writes: 3 is a repository snapshot's
/// (each file's chunk list added). Version 1 (no owners, sources always UTF-8 text) is still
/// read.
pub const FORMAT_VERSION: u32 = 3;
/// The format of a plain-folder snapshot's manifest (no chunk lists): what the previous
/// release reads.
pub const PLAIN_FORMAT_VERSION: u32 = 2;
/// The oldest manifest format this build reads.
pub const OLDEST_FORMAT_VERSION: u32 = 1;
/// Manifests larger than this are refused before parsing.
pub const MAX_MANIFEST_BYTES: u64 = 64 << 20;

/// Why a snapshot was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Taken by `create`.
    Regular,
    /// Taken by `restore` of the live state just before it was replaced.
    PreRestore,
}

impl Kind {
    /// The name used in the manifest and in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Regular => "regular",
            Kind::PreRestore => "pre-restore",
        }
    }
}

/// The SHA-256 a staged manifest gives a file whose hash the store computes when it
/// commits the snapshot ([`SnapshotStore::hashes_on_commit`](crate::SnapshotStore::hashes_on_commit)).
/// Never in a stored manifest: the repository refuses to store one that still has it.
pub const PENDING_SHA256: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One file a component wrote, relative to the snapshot folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// `<component-id>/...`, `/`-separated, never absolute, never `..`.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex SHA-256.
    pub sha256: String,
    /// Owner, group and mode of the live file it was captured from (format 2; absent in
    /// format 1 and for files with no live counterpart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    /// Its chunks, in order (format 3, in a repository; absent in a plain-folder snapshot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunks: Option<ChunkList>,
}

/// A file's chunks as a repository manifest lists them: `count` chunk serials, encoded
/// compactly (see the repository's `serials` module).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkList {
    /// How many chunks.
    pub count: u64,
    /// The serials: zigzag varint deltas, zstd, base64 without padding.
    pub serials: String,
}

/// A folder of a captured store, with the owner, group and mode it had live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderEntry {
    /// `<component-id>` for the store's own folder, `<component-id>/<name>[/...]` below it.
    pub path: String,
    /// Owner, group and mode of the live folder.
    pub owner: Owner,
}

/// A live path as recorded: text when it is UTF-8, else its bytes in hex, so any path a
/// Unix system allows round-trips exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RecordedPath {
    /// A path that is valid UTF-8.
    Text(String),
    /// Any other path, as lower-case hex of its bytes.
    Bytes {
        /// The bytes in hex.
        hex: String,
    },
}

impl RecordedPath {
    /// Record `p` exactly.
    pub fn from_path(p: &Path) -> RecordedPath {
        match p.to_str() {
            Some(s) => RecordedPath::Text(s.to_owned()),
            None => RecordedPath::Bytes {
                hex: crate::fsio::hex(p.as_os_str().as_bytes()),
            },
        }
    }

    /// The path recorded (`None` when the hex is malformed or holds a NUL).
    pub fn to_path(&self) -> Option<PathBuf> {
        let bytes = match self {
            RecordedPath::Text(s) => s.as_bytes().to_vec(),
            RecordedPath::Bytes { hex } => unhex(hex)?,
        };
        if bytes.is_empty() || bytes.contains(&0) {
            return None;
        }
        Some(PathBuf::from(OsString::from_vec(bytes)))
    }

    /// The path as text for messages (bytes that are not UTF-8 shown as U+FFFD).
    pub fn display(&self) -> String {
        self.to_path()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|| "(malformed path)".into())
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Serde for a `PathBuf` field that must survive any bytes (journal targets, JSON output):
/// as [`RecordedPath`].
pub mod path_serde {
    use super::RecordedPath;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::path::{Path, PathBuf};

    /// Serialize as [`RecordedPath`].
    ///
    /// # Errors
    /// Those of the serializer.
    pub fn serialize<S: Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
        RecordedPath::from_path(p).serialize(s)
    }

    /// Deserialize from [`RecordedPath`] (a plain string is the UTF-8 case).
    ///
    /// # Errors
    /// A malformed path.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
        RecordedPath::deserialize(d)?
            .to_path()
            .ok_or_else(|| serde::de::Error::custom("malformed path"))
    }

    /// For `Option<PathBuf>` fields.
    pub mod opt {
        use super::*;

        /// Serialize as [`RecordedPath`] or null.
        ///
        /// # Errors
        /// Those of the serializer.
        pub fn serialize<S: Serializer>(p: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
            p.as_deref().map(RecordedPath::from_path).serialize(s)
        }

        /// Deserialize from [`RecordedPath`] or null.
        ///
        /// # Errors
        /// A malformed path.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
            Option::<RecordedPath>::deserialize(d)?
                .map(|r| {
                    r.to_path()
                        .ok_or_else(|| serde::de::Error::custom("malformed path"))
                })
                .transpose()
        }
    }

    /// For lists of paths.
    pub mod vec {
        use super::*;

        /// Serialize each as [`RecordedPath`].
        ///
        /// # Errors
        /// Those of the serializer.
        pub fn serialize<S: Serializer>(v: &[PathBuf], s: S) -> Result<S::Ok, S::Error> {
            v.iter()
                .map(|p| RecordedPath::from_path(p))
                .collect::<Vec<_>>()
                .serialize(s)
        }
    }
}

/// What one component captured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentRecord {
    /// The component id; also its folder inside the snapshot.
    pub id: String,
    /// False when the live store had nothing for this component (e.g. no registry file).
    pub present: bool,
    /// Every file the component wrote.
    pub files: Vec<FileEntry>,
    /// Capture quality, warnings and the component's own facts (SQLite: page size,
    /// integrity result, ...).
    #[serde(default)]
    pub facts: crate::facts::Facts,
    /// The store's folders with their live owners (format 2; a folder store's own folder is
    /// `<id>`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub folders: Vec<FolderEntry>,
    /// Owner, group and mode of the folder holding the live store (format 2), given to that
    /// folder when a restore onto an empty host has to create it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Owner>,
}

/// The whole manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// The snapshot's stamp; equals its folder name.
    pub stamp: String,
    /// RFC 3339 UTC time the snapshot was started.
    pub created_at: String,
    /// Version of atocore-backup that wrote it.
    pub tool_version: String,
    /// Regular or pre-restore.
    pub kind: Kind,
    /// Live path of each component, by id, as it was when captured (exactly: see
    /// [`RecordedPath`]).
    pub sources: BTreeMap<String, RecordedPath>,
    /// Components in the order they were captured (and are restored).
    pub components: Vec<ComponentRecord>,
}

#[derive(Deserialize)]
struct VersionProbe {
    format_version: Option<serde_json::Value>,
}

impl Manifest {
    /// Read and check a manifest file: a regular file (its name not followed), size bound,
    /// JSON, known format version, and every file path safe (relative, no `..`, inside its
    /// component's folder).
    ///
    /// # Errors
    /// [`Error::Manifest`] naming the file and the problem; [`Error::Io`] when unreadable.
    pub fn read(path: &Path) -> Result<Manifest> {
        let bad = |problem: String| Error::Manifest {
            path: path.to_path_buf(),
            problem,
        };
        let f = match crate::fsio::open_regular(path) {
            Ok(f) => f,
            Err(Error::Symlink { .. } | Error::NotRegular { .. }) => {
                return Err(bad("is not a regular file".into()))
            }
            Err(Error::Io { cause, .. }) if cause.kind() == std::io::ErrorKind::NotFound => {
                return Err(bad(
                    "is missing: the snapshot's manifest was lost or never written".into(),
                ))
            }
            Err(e) => return Err(e),
        };
        Self::from_reader(&mut &f, path)
    }

    /// Read and check a manifest from a stream (`path` names it in messages), as
    /// [`Manifest::read`] does after opening the file.
    ///
    /// # Errors
    /// [`Error::Manifest`] naming `path` and the problem; [`Error::Io`] when unreadable.
    pub fn from_reader(r: &mut dyn Read, path: &Path) -> Result<Manifest> {
        let bad = |problem: String| Error::Manifest {
            path: path.to_path_buf(),
            problem,
        };
        let mut bytes = Vec::new();
        r.take(MAX_MANIFEST_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io("read", path, e))?;
        if bytes.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(bad(format!(
                "is more than the {MAX_MANIFEST_BYTES} bytes a manifest may have"
            )));
        }
        Self::parse(&bytes).map_err(bad)
    }

    /// Parse and check manifest bytes; the error is a sentence without the path.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, String> {
        let probe: VersionProbe =
            serde_json::from_slice(bytes).map_err(|e| format!("is not valid JSON ({e})"))?;
        match probe.format_version {
            None => return Err("has no format_version".into()),
            Some(v)
                if !v.as_u64().is_some_and(|n| {
                    (u64::from(OLDEST_FORMAT_VERSION)..=u64::from(FORMAT_VERSION)).contains(&n)
                }) =>
            {
                return Err(format!(
                    "has format_version {v}, this build reads {OLDEST_FORMAT_VERSION} to \
                     {FORMAT_VERSION}"
                ))
            }
            Some(_) => {}
        }
        let m: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| format!("does not have the expected fields ({e})"))?;
        m.check()?;
        Ok(m)
    }

    fn check(&self) -> Result<(), String> {
        crate::Stamp::parse(&self.stamp).map_err(|e| e.to_string())?;
        for (id, p) in &self.sources {
            let ok = p.to_path().is_some_and(|p| p.is_absolute());
            if !ok || (self.format_version == 1 && matches!(p, RecordedPath::Bytes { .. })) {
                return Err(format!("records a malformed source path for {id:?}"));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for c in &self.components {
            if !is_safe_id(&c.id) {
                return Err(format!("has an invalid component id {:?}", c.id));
            }
            if !seen.insert(c.id.as_str()) {
                return Err(format!("lists component '{}' twice", c.id));
            }
            let mut files = std::collections::BTreeSet::new();
            for f in &c.files {
                check_entry_path(&c.id, &f.path)?;
                if !files.insert(f.path.as_str()) {
                    return Err(format!("lists {} twice", f.path));
                }
                if f.sha256.len() != 64 || !f.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(format!("has a malformed sha256 for {}", f.path));
                }
            }
            let owners = c
                .files
                .iter()
                .filter_map(|f| f.owner.as_ref())
                .chain(c.folders.iter().map(|f| &f.owner))
                .chain(c.parent.as_ref());
            for o in owners {
                if o.uid == u32::MAX || o.gid == u32::MAX || o.mode > 0o7777 {
                    return Err(format!(
                        "records an impossible owner or mode for component '{}'",
                        c.id
                    ));
                }
            }
            for d in &c.folders {
                if d.path != c.id {
                    check_entry_path(&c.id, &d.path)?;
                }
            }
            if !c.present && !c.files.is_empty() {
                return Err(format!("lists files for absent component '{}'", c.id));
            }
        }
        Ok(())
    }

    /// The record of component `id`, if captured.
    pub fn component(&self, id: &str) -> Option<&ComponentRecord> {
        self.components.iter().find(|c| c.id == id)
    }

    /// Sum of the sizes of all files.
    pub fn total_size(&self) -> u64 {
        self.components
            .iter()
            .flat_map(|c| &c.files)
            .map(|f| f.size)
            .sum()
    }

    /// Serialize as pretty JSON.
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }
}

/// Component ids are lower-case ASCII words (`sqlite`, `registry`, `chroma`).
pub fn is_safe_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// A manifest path must be `<id>/<name>[/<name>...]`: relative, `/`-separated, no `.`/`..`,
/// no empty parts, no backslash or NUL.
fn check_entry_path(id: &str, p: &str) -> Result<(), String> {
    let reject = |why: &str| Err(format!("has an unsafe file path {p:?} ({why})"));
    if p.contains('\\') || p.contains('\0') {
        return reject("backslash or NUL");
    }
    if Path::new(p).is_absolute() {
        return reject("absolute");
    }
    let parts: Vec<&str> = p.split('/').collect();
    if parts
        .iter()
        .any(|s| s.is_empty() || *s == "." || *s == "..")
    {
        return reject("empty, '.' or '..' part");
    }
    if parts.len() < 2 || parts[0] != id {
        return reject("not inside the component's folder");
    }
    if Path::new(p)
        .components()
        .any(|c| !matches!(c, PathPart::Normal(_)))
    {
        return reject("not a plain relative path");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            format_version: FORMAT_VERSION,
            stamp: "20260409T012345Z".into(),
            created_at: "2026-04-09T01:23:45Z".into(),
            tool_version: "0.1.0".into(),
            kind: Kind::Regular,
            sources: BTreeMap::new(),
            components: vec![ComponentRecord {
                id: "sqlite".into(),
                present: true,
                files: vec![FileEntry {
                    path: "sqlite/atocore.db".into(),
                    size: 1,
                    sha256: "a".repeat(64),
                    owner: Some(Owner {
                        uid: 65534,
                        gid: 1,
                        mode: 0o640,
                    }),
                    chunks: None,
                }],
                facts: Default::default(),
                folders: Vec::new(),
                parent: None,
            }],
        }
    }

    fn with_path(p: &str) -> Vec<u8> {
        let mut m = sample();
        m.components[0].files[0].path = p.into();
        m.to_json()
    }

    #[test]
    fn round_trips() {
        let m = sample();
        assert_eq!(Manifest::parse(&m.to_json()).unwrap(), m);
    }

    #[test]
    fn any_path_bytes_round_trip() {
        let mut m = sample();
        let odd = PathBuf::from(OsString::from_vec(b"/srv/\xff\x01dir/atocore.db".to_vec()));
        m.sources
            .insert("sqlite".into(), RecordedPath::from_path(&odd));
        m.sources.insert(
            "registry".into(),
            RecordedPath::from_path(Path::new("/srv/ü/reg.json")),
        );
        let back = Manifest::parse(&m.to_json()).unwrap();
        assert_eq!(back.sources["sqlite"].to_path().unwrap(), odd);
        assert_eq!(
            back.sources["registry"],
            RecordedPath::Text("/srv/ü/reg.json".into())
        );
    }

    #[test]
    fn version_1_is_read() {
        let v1 = br#"{"format_version":1,"stamp":"20260409T012345Z","created_at":"x",
            "tool_version":"0.1.0","kind":"regular","sources":{"sqlite":"/srv/a.db"},
            "components":[{"id":"sqlite","present":true,"files":[{"path":"sqlite/a.db",
            "size":1,"sha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}],
            "facts":{}}]}"#;
        let m = Manifest::parse(v1).unwrap();
        assert_eq!(m.format_version, 1);
        assert_eq!(
            m.sources["sqlite"].to_path().unwrap(),
            Path::new("/srv/a.db")
        );
        assert_eq!(m.components[0].files[0].owner, None);
    }

    #[test]
    fn impossible_owners_and_bad_sources_are_refused() {
        let mut m = sample();
        m.components[0].files[0].owner = Some(Owner {
            uid: u32::MAX,
            gid: 0,
            mode: 0o600,
        });
        assert!(Manifest::parse(&m.to_json())
            .unwrap_err()
            .contains("impossible"));
        let mut m = sample();
        m.sources
            .insert("sqlite".into(), RecordedPath::Bytes { hex: "2f00".into() });
        assert!(Manifest::parse(&m.to_json())
            .unwrap_err()
            .contains("malformed source"));
    }

    #[test]
    fn refuses_unsafe_paths() {
        for p in [
            "/etc/passwd",
            "sqlite/../../x",
            "../x",
            "sqlite/./x",
            "sqlite//x",
            "registry/x",
            "sqlite",
            "sqlite\\..\\x",
        ] {
            let err = Manifest::parse(&with_path(p)).unwrap_err();
            assert!(err.contains("unsafe file path"), "{p}: {err}");
        }
    }

    #[test]
    fn refuses_unknown_versions_and_garbage() {
        let mut m = sample();
        m.format_version = 99;
        assert!(Manifest::parse(&m.to_json())
            .unwrap_err()
            .contains("format_version 99"));
        assert!(Manifest::parse(b"{")
            .unwrap_err()
            .contains("not valid JSON"));
        assert!(Manifest::parse(b"[]")
            .unwrap_err()
            .contains("not valid JSON"));
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(Manifest::parse(deep.as_bytes()).is_err());
        assert!(Manifest::parse(b"{\"format_version\":1}")
            .unwrap_err()
            .contains("expected fields"));
    }
}
