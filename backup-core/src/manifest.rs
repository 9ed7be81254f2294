//! The snapshot manifest, `backup-metadata.json`: what was captured, from where, and the
//! size and SHA-256 of every file. Its format is public API: a change that old readers would
//! misread bumps [`FORMAT_VERSION`].

use std::collections::BTreeMap;
use std::path::{Component as PathPart, Path};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};

/// Name of the manifest file inside a snapshot folder.
pub const MANIFEST_NAME: &str = "backup-metadata.json";
/// The manifest format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
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

/// One file a component wrote, relative to the snapshot folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// `<component-id>/...`, `/`-separated, never absolute, never `..`.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex SHA-256.
    pub sha256: String,
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
    /// The component's own facts (SQLite: page size, integrity result, ...).
    #[serde(default)]
    pub facts: serde_json::Map<String, serde_json::Value>,
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
    /// Live path of each component, by id, as it was when captured.
    pub sources: BTreeMap<String, String>,
    /// Components in the order they were captured (and are restored).
    pub components: Vec<ComponentRecord>,
}

#[derive(Deserialize)]
struct VersionProbe {
    format_version: Option<serde_json::Value>,
}

impl Manifest {
    /// Read and check a manifest file: size bound, JSON, known format version, and every file
    /// path safe (relative, no `..`, inside its component's folder).
    ///
    /// # Errors
    /// [`Error::Manifest`] naming the file and the problem; [`Error::Io`] when unreadable.
    pub fn read(path: &Path) -> Result<Manifest> {
        let bad = |problem: String| Error::Manifest {
            path: path.to_path_buf(),
            problem,
        };
        let meta = std::fs::symlink_metadata(path).ctx("read", path)?;
        if !meta.file_type().is_file() {
            return Err(bad("is not a regular file".into()));
        }
        if meta.len() > MAX_MANIFEST_BYTES {
            return Err(bad(format!(
                "is {} bytes, more than the {MAX_MANIFEST_BYTES} a manifest may have",
                meta.len()
            )));
        }
        let bytes = std::fs::read(path).ctx("read", path)?;
        Self::parse(&bytes).map_err(bad)
    }

    /// Parse and check manifest bytes; the error is a sentence without the path.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, String> {
        let probe: VersionProbe =
            serde_json::from_slice(bytes).map_err(|e| format!("is not valid JSON ({e})"))?;
        match probe.format_version {
            None => return Err("has no format_version".into()),
            Some(v) if v.as_u64() != Some(u64::from(FORMAT_VERSION)) => {
                return Err(format!(
                    "has format_version {v}, this build reads only {FORMAT_VERSION}"
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
                }],
                facts: Default::default(),
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
