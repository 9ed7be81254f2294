//! `copy [--to ADDRESS] [STAMP...]`: send the snapshots a second place lacks, then read
//! each back from there and check every file's SHA-256 against the manifest.

use std::collections::BTreeSet;
use std::io::Read;

use anyhow::{anyhow, Context, Result};
use backup_cli::json;
use backup_core::{Error, SnapshotStore, Stamp};
use sha2::Digest;

use super::{human_size, stamp, Ctx};
use crate::exit_codes;
use crate::output::{self, say};

/// Read every file of `stamp` back from `to` and compare it with `from`'s manifest.
fn verify(from: &dyn SnapshotStore, to: &dyn SnapshotStore, stamp: &Stamp) -> Result<u64> {
    let want = from.read_manifest(stamp)?;
    let got = to.read_manifest(stamp)?;
    let files = |m: &backup_core::Manifest| -> Vec<(String, u64, String)> {
        m.components
            .iter()
            .flat_map(|c| &c.files)
            .map(|f| (f.path.clone(), f.size, f.sha256.clone()))
            .collect()
    };
    if files(&want) != files(&got) || want.kind != got.kind {
        return Err(anyhow!(
            "{}: the copy's manifest does not list the same files, sizes and hashes as the \
             original's",
            to.describe(stamp, backup_core::MANIFEST_NAME).display()
        ));
    }
    let mut bytes = 0;
    let mut buf = vec![0u8; 256 << 10];
    for (path, size, sha) in files(&want) {
        let what = to.describe(stamp, &path);
        let mut r = to.open_file(stamp, &path)?;
        let mut h = sha2::Sha256::new();
        let mut n = 0u64;
        loop {
            let k = match r.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io("read back", &what, e).into()),
            };
            h.update(&buf[..k]);
            n += k as u64;
        }
        let actual = backup_core::fsio::hex(&h.finalize());
        if actual != sha || n != size {
            return Err(Error::ChecksumMismatch {
                path: what,
                expected: sha,
                actual: format!("{actual} ({n} bytes)"),
            }
            .into());
        }
        bytes += n;
    }
    Ok(bytes)
}

pub fn run(ctx: &Ctx, to: Option<&str>, only: &[String]) -> Result<u8> {
    let addr = to
        .map(str::to_owned)
        .or_else(|| ctx.global.copy_to.clone())
        .ok_or_else(|| anyhow!("copy to where? pass --to ADDRESS or set ATOCORE_COPY_TO"))?;
    let from = ctx.store_for("copy")?;
    let dest = ctx.secondary(&addr, "copy")?;
    let dest_repo = dest
        .repo()
        .ok_or_else(|| anyhow!("{addr}: not a repository"))?;
    let wanted: Vec<Stamp> = only.iter().map(|s| stamp(s)).collect::<Result<_>>()?;
    let listing = from.list()?;
    for s in &wanted {
        if !listing.snapshots.contains(s) {
            return Err(Error::UnknownSnapshot {
                stamp: s.to_string(),
                dir: from.location().to_path_buf(),
            }
            .into());
        }
    }
    // Which copies there were read back and checked by this host: a copy whose check
    // failed (or never ran, the run killed after the upload) is checked on the next run.
    let marks_dir = super::remote::place_dir(&ctx.backup_dir()?, &addr);
    let (marks, _) = backup_core::fsio::open_or_create_dir(&marks_dir, None)?;
    let marks_name = std::ffi::OsStr::new("verified-copies");
    let mut verified: BTreeSet<String> = match marks.stat(marks_name)? {
        Some(_) => {
            let mut text = String::new();
            marks
                .open_file(marks_name)?
                .take(16 << 20)
                .read_to_string(&mut text)
                .map_err(|e| Error::io("read", marks.join(marks_name), e))?;
            text.lines().map(str::to_owned).collect()
        }
        None => BTreeSet::new(),
    };
    let there: BTreeSet<Stamp> = match dest.list() {
        Ok(l) => l.snapshots.into_iter().collect(),
        Err(Error::MissingBackupDir { .. }) => BTreeSet::new(),
        Err(e) => return Err(e.into()),
    };
    let mut negative_only = true;
    let mut report = json::Copied {
        format_version: json::FORMAT_VERSION,
        to: addr.clone(),
        copied: Vec::new(),
        already_there: Vec::new(),
        failed: Vec::new(),
    };
    for s in &listing.snapshots {
        if !wanted.is_empty() && !wanted.contains(s) {
            continue;
        }
        if there.contains(s) && verified.contains(s.as_str()) {
            report.already_there.push(s.to_string());
            continue;
        }
        let done = (if there.contains(s) {
            Ok(None)
        } else {
            dest_repo
                .import(&*from, s)
                .with_context(|| format!("copying snapshot {s} to {addr}"))
        })
        .and_then(|added| {
            let bytes = verify(&*from, dest_repo, s)
                .with_context(|| format!("checking the copy of snapshot {s} at {addr}"))?;
            Ok((added, bytes))
        });
        match done {
            Ok((added, bytes)) => {
                verified.insert(s.to_string());
                let text: String = verified.iter().map(|v| format!("{v}\n")).collect();
                marks.write_atomic_mode(marks_name, text.as_bytes(), 0o600)?;
                if !ctx.global.json {
                    say(format!(
                        "copied snapshot {s} to {addr}: {} added there, {} read back and checked",
                        human_size(added.map_or(0, |a| a.pack_bytes)),
                        human_size(bytes)
                    ));
                }
                report.copied.push(json::CopiedSnapshot {
                    stamp: s.to_string(),
                    stored: added.map(json::Stored::from),
                    verified_bytes: bytes,
                });
            }
            Err(e) => {
                negative_only &= e
                    .chain()
                    .filter_map(|c| c.downcast_ref::<Error>())
                    .any(|c| matches!(c, Error::ChecksumMismatch { .. }) || c.is_negative_answer());
                output::error(&format!("{e:#}"));
                report.failed.push(json::CopyFailure {
                    stamp: s.to_string(),
                    error: format!("{e:#}"),
                });
            }
        }
    }
    for s in &listing.lost {
        report.failed.push(json::CopyFailure {
            stamp: s.to_string(),
            error: "its manifest is missing here: not copied".into(),
        });
    }
    if ctx.global.json {
        ctx.print_json(&report)?;
    } else if report.copied.is_empty() && report.failed.is_empty() {
        say(format!("{addr} has every snapshot already"));
    }
    // 1 when what failed is a copy found wrong (a checksum, a damaged snapshot); 2 when
    // the copy could not be made at all (a store unreachable, a refusal).
    Ok(if report.failed.is_empty() {
        exit_codes::OK
    } else if negative_only {
        exit_codes::NO
    } else {
        exit_codes::ERROR
    })
}
