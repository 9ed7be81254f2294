//! What a repository on object storage needs: the connection, the key, the lease and the
//! local state folder.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use backup_core::{Key, Lease, LeaseKind, ObjectStore, Sealed};

use crate::cli::Global;
use crate::output;

/// The key given by `--key-file` / `ATOCORE_KEY_FILE`, else by `ATOCORE_KEY` (the key
/// itself), else none.
pub fn key(g: &Global) -> Result<Option<Key>> {
    if let Some(file) = &g.key_file {
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(
                (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32,
            )
            .open(file)
            .with_context(|| format!("{}: cannot open the key file", file.display()))?;
        let md = f
            .metadata()
            .with_context(|| format!("{}: cannot inspect the key file", file.display()))?;
        if !md.is_file() {
            bail!("{}: the key file is not a regular file", file.display());
        }
        if md.mode() & 0o077 != 0 {
            output::warn(&format!(
                "{}: the key file can be read by others (mode {:o}): whoever reads it can \
                 read every backup; `chmod 600` it",
                file.display(),
                md.mode() & 0o777
            ));
        }
        let mut text = String::new();
        (&mut f)
            .take(4096)
            .read_to_string(&mut text)
            .map_err(|_| anyhow!("{}: the key file is not text", file.display()))?;
        return Ok(Some(Key::from_text(&text, file)?));
    }
    match std::env::var("ATOCORE_KEY") {
        Ok(text) if !text.trim().is_empty() => Ok(Some(Key::from_text(
            &text,
            std::path::Path::new("ATOCORE_KEY"),
        )?)),
        _ => Ok(None),
    }
}

/// The objects at `addr`.
pub fn connect(g: &Global, addr: &backup_s3::Address) -> Result<Arc<dyn ObjectStore>> {
    let opts = backup_s3::Options {
        endpoint: g.s3_endpoint.clone(),
        region: g.s3_region.clone(),
        path_style: g.s3_path_style,
        retries: g.s3_retries,
        ..backup_s3::Options::default()
    };
    Ok(Arc::new(backup_s3::S3Objects::connect(addr, &opts)?))
}

/// `objects`, sealed with `key` when there is one.
pub fn sealed(objects: Arc<dyn ObjectStore>, key: Option<Key>) -> Arc<dyn ObjectStore> {
    match key {
        Some(k) => Arc::new(Sealed::new(objects, k)),
        None => objects,
    }
}

/// How long a lease lasts before others may ignore it (renewed every third of it):
/// `ATOCORE_LEASE_SECONDS`, default 600.
fn lease_length() -> Duration {
    let secs = std::env::var("ATOCORE_LEASE_SECONDS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| *s >= 3)
        .unwrap_or(600);
    Duration::from_secs(secs)
}

/// A lease on the repository in `objects` for `command`: exclusive for what deletes.
pub fn lease(objects: &Arc<dyn ObjectStore>, command: &str, timeout: Duration) -> Result<Lease> {
    let kind = if matches!(command, "prune" | "cleanup") {
        LeaseKind::Exclusive
    } else {
        LeaseKind::Shared
    };
    Ok(Lease::acquire(
        Arc::clone(objects),
        kind,
        command,
        lease_length(),
        timeout,
    )?)
}

/// A short name for the place at `addr`: `<bucket or folder name>-<hash of the address>`.
pub fn tag(addr: &str) -> String {
    let h = backup_core::fsio::hex(&<sha2::Sha256 as sha2::Digest>::digest(addr.as_bytes())[..6]);
    let name = match backup_s3::Address::parse(addr) {
        Ok(a) => a.bucket,
        Err(_) => std::path::Path::new(addr)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    format!("{name}-{h}")
}

/// The folder, inside the state folder `state`, that keeps what this host knows of the
/// repository at `addr` (its index cache, the copies verified there): never the local
/// repository's own cache, which a backup dir holding both would otherwise share.
pub fn place_dir(state: &std::path::Path, addr: &str) -> PathBuf {
    state.join("remotes").join(tag(addr))
}

/// The state folder of the repository at `addr` when no backup dir is given.
pub fn default_state_dir(addr: &backup_s3::Address) -> Result<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local").join("state"))
        })
        .ok_or_else(|| {
            anyhow!("no local state folder for {addr}: set HOME, XDG_STATE_HOME or --backup-dir")
        })?;
    let tag = backup_core::fsio::hex(
        &<sha2::Sha256 as sha2::Digest>::digest(addr.to_string().as_bytes())[..6],
    );
    let name = format!("{}-{tag}", addr.bucket);
    Ok(base.join("atocore-backup").join(name))
}
