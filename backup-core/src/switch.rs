//! Putting new content at a live path, for every component: the new file or folder is built in
//! a private folder beside the target (`.<name>.atocore-restore.tmp/`, mode 0700, owned by the
//! tool's user, so whoever can write the data folder cannot plant anything inside it), given the
//! owner and mode the service expects, fsynced, and switched in by one rename (a file) or one
//! `renameat2(RENAME_EXCHANGE)` (a folder). The private folder is removed afterwards, with the
//! old content that the switch moved into it.
//!
//! Every step goes through open folder handles ([`Dir`]): a name swapped for a symlink during
//! the run is never followed, and the rename moves names, not what they point to.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::FileType;

use crate::error::{Error, Result};
use crate::fsio::{self, Dir, Owner};
use crate::interrupt;

/// Suffix of the private folder a restore builds in, beside its target.
pub const TEMP_SUFFIX: &str = ".atocore-restore.tmp";

/// The private folder's name beside a target called `name`: `.<name>.atocore-restore.tmp`.
pub fn temp_name(name: &OsStr) -> OsString {
    let mut t = OsString::from(".");
    t.push(name);
    t.push(TEMP_SUFFIX);
    t
}

/// Whether `entry` (a name in the folder holding a live path called `target_name`) is one of
/// this tool's own temporary names for it: `.<target_name>.atocore-<anything>.tmp` (this
/// version makes only `…atocore-restore.tmp`; older ones also made `-old` and `-write`).
pub fn is_own_temp(entry: &OsStr, target_name: &OsStr) -> bool {
    let mut prefix = b".".to_vec();
    prefix.extend_from_slice(target_name.as_bytes());
    prefix.extend_from_slice(b".atocore-");
    let e = entry.as_bytes();
    e.len() > prefix.len() + 4 && e.starts_with(&prefix) && e.ends_with(b".tmp")
}

/// New content for one live path, being built beside it.
#[derive(Debug)]
pub struct Replacement {
    parent: Dir,
    name: OsString,
    target: PathBuf,
    work: Dir,
    work_name: OsString,
    label: &'static str,
    warnings: Vec<String>,
    _registered: interrupt::Registered,
}

impl Replacement {
    /// The name of this replacement's failpoints (the component id).
    pub fn label(&self) -> &'static str {
        self.label
    }

    /// Open the folder holding `target` (creating missing folders for a restore onto an
    /// empty host: the last one with `parent_owner` when recorded) and make the private work
    /// folder beside `target`, removing a leftover of ours. `label` names the failpoints.
    /// `target`'s folder must be resolved already (the orchestrator does that once per run):
    /// it is opened one name at a time from `/`, following no link, so a folder swapped for
    /// a link since is refused.
    ///
    /// # Errors
    /// [`Error::Symlink`] (a symlink at the work folder's name), [`Error::WrongPlace`]
    /// (something there that is not ours), [`Error::Io`].
    ///
    /// When `parent_id` is given, the folder holding `target` must be the one with this
    /// identity (device, inode), seen when the run first opened it: a folder swapped for
    /// another real folder since is refused ([`Error::WrongPlace`]), nothing written there.
    pub fn begin(
        target: &Path,
        parent_owner: Option<&Owner>,
        parent_id: Option<(u64, u64)>,
        label: &'static str,
    ) -> Result<Replacement> {
        let name = fsio::last_name(target)?.to_owned();
        let (parent, warnings) =
            fsio::open_or_create_real_dir(fsio::parent_of(target), parent_owner)?;
        if let Some(want) = parent_id {
            if parent.identity()? != want {
                return Err(Error::WrongPlace {
                    path: parent.path().to_path_buf(),
                    problem: "was replaced by another folder while the restore ran; nothing \
                              was written there"
                        .into(),
                });
            }
        }
        let work_name = temp_name(&name);
        let work = parent.create_temp_dir(&work_name)?;
        parent.sync()?;
        Ok(Replacement {
            _registered: interrupt::register(
                &parent.join(&work_name),
                interrupt::Scope::BesideLive,
            ),
            parent,
            name,
            target: target.to_path_buf(),
            work,
            work_name,
            label,
            warnings,
        })
    }

    /// The live path.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The live path's last name.
    pub fn name(&self) -> &OsStr {
        &self.name
    }

    /// The folder holding the live path.
    pub fn parent(&self) -> &Dir {
        &self.parent
    }

    /// The private folder to build the new content in.
    pub fn work(&self) -> &Dir {
        &self.work
    }

    /// Keep a warning for [`Replacement::finish`].
    pub fn warn(&mut self, w: impl Into<String>) {
        self.warnings.push(w.into());
    }

    /// Keep a warning if there is one.
    pub fn warn_opt(&mut self, w: Option<String>) {
        self.warnings.extend(w);
    }

    /// The owner new content at `live_name` (beside the target, or the target itself) takes:
    /// that of what is there now when it is of the same kind, else `recorded`.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn owner_for(
        &self,
        live_name: &OsStr,
        is_dir: bool,
        recorded: Option<&Owner>,
    ) -> Result<Option<Owner>> {
        let want = if is_dir {
            FileType::Directory
        } else {
            FileType::RegularFile
        };
        Ok(match self.parent.stat(live_name)? {
            Some(st) if fsio::file_type(&st) == want => Some(Owner::of(&st)),
            _ => recorded.copied(),
        })
    }

    /// Move the live `live_name` (a name beside the target: a SQLite sidecar) into the work
    /// folder as `as_name`. Whatever it is, the name moves, nothing is followed. Returns
    /// whether something was there.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn move_aside(&self, live_name: &OsStr, as_name: &OsStr) -> Result<bool> {
        if self.parent.stat(live_name)?.is_none() {
            return Ok(false);
        }
        match self.parent.rename(live_name, &self.work, as_name) {
            Ok(()) => Ok(true),
            Err(Error::Io { cause, .. }) if cause.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Put back what [`Replacement::move_aside`] moved.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn move_back(&self, as_name: &OsStr, live_name: &OsStr) -> Result<()> {
        self.work.rename(as_name, &self.parent, live_name)
    }

    /// The switch of a file: rename `built` (in the work folder, written and fsynced) to
    /// `live_name` beside the target, then fsync the folder. An error means nothing moved; a
    /// failed folder fsync after the rename is a warning, since the switch happened.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn switch_file(&mut self, built: &OsStr, live_name: &OsStr) -> Result<()> {
        self.work.rename(built, &self.parent, live_name)?;
        if let Err(e) = self.parent.sync() {
            self.warn(format!("switched in, but not made durable: {e}"));
        }
        Ok(())
    }

    /// The switch of a folder: `built` (in the work folder, complete and fsynced) takes the
    /// target's place. With a live folder there, one exchange (the old folder lands in the work
    /// folder, removed by [`Replacement::finish`]); without one, a rename. Where the file
    /// system cannot exchange: the live folder moved into the work folder, the new one
    /// renamed in, and the first rename undone if the second fails; if that fails too, the
    /// switch is [`Error::SwitchIncomplete`] (the restore journal then stays).
    ///
    /// # Errors
    /// [`Error::Io`] when nothing was switched; [`Error::SwitchIncomplete`].
    pub fn switch_folder(&mut self, built: &OsStr) -> Result<()> {
        let had_live = self.parent.stat(&self.name)?.is_some();
        if !had_live {
            return self.switch_file(built, &self.name.clone());
        }
        match self.work.exchange(built, &self.parent, &self.name) {
            Ok(()) => {
                crate::failpoint(&format!("{}.exchanged", self.label));
            }
            Err(Error::Io { cause, .. }) if exchange_unsupported(&cause) => {
                self.switch_by_two_renames(built)?;
            }
            Err(e) => return Err(e),
        }
        if let Err(e) = self.parent.sync() {
            self.warn(format!("switched in, but not made durable: {e}"));
        }
        Ok(())
    }

    fn switch_by_two_renames(&mut self, built: &OsStr) -> Result<()> {
        let old = OsStr::new("old");
        self.parent.rename(&self.name, &self.work, old)?;
        crate::failpoint(&format!("{}.live-moved-aside", self.label));
        match self.work.rename(built, &self.parent, &self.name) {
            Ok(()) => Ok(()),
            Err(e) => match self.work.rename(old, &self.parent, &self.name) {
                Ok(()) => Err(e),
                Err(back) => Err(Error::SwitchIncomplete {
                    path: self.target.clone(),
                    problem: format!(
                        "{e}; moving the old folder back from {} failed: {back}",
                        self.work.join(old).display()
                    ),
                }),
            },
        }
    }

    /// Remove the work folder with what it still holds (the old content after a switch, the
    /// partial new content after a failure), and return the warnings gathered. A removal
    /// that fails is one more warning: `status` lists the leftover and `cleanup` removes it.
    pub fn finish(mut self) -> Vec<String> {
        match self.parent.remove_tree(&self.work_name) {
            Ok(_) => {
                if let Err(e) = self.parent.sync() {
                    self.warnings.push(e.to_string());
                }
            }
            Err(e) => self.warnings.push(format!(
                "the temporary folder {} was not removed ({e}); `status` lists it, and the \
                 next restore of this store refuses to start until it is gone: try `cleanup`, \
                 or remove it by hand",
                self.parent.join(&self.work_name).display()
            )),
        }
        self.warnings
    }
}

fn exchange_unsupported(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Unsupported | io::ErrorKind::InvalidInput
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_temp_names_are_recognised_exactly() {
        let t = OsStr::new("atocore.db");
        assert!(is_own_temp(
            OsStr::new(".atocore.db.atocore-restore.tmp"),
            t
        ));
        assert!(is_own_temp(OsStr::new(".atocore.db.atocore-old.tmp"), t));
        assert!(!is_own_temp(
            OsStr::new(".atocore.db.atocore-backup.lock"),
            t
        ));
        assert!(!is_own_temp(OsStr::new(".other.db.atocore-restore.tmp"), t));
        assert!(!is_own_temp(OsStr::new("atocore.db"), t));
        assert!(!is_own_temp(OsStr::new(".atocore.db.atocore-.tmp"), t));
    }

    #[test]
    fn a_file_is_switched_in_and_the_work_folder_goes() {
        let dir = tempfile::tempdir().unwrap();
        let target = fsio::real_path(dir.path()).join("data/reg.json");
        let mut r = Replacement::begin(&target, None, None, "test").unwrap();
        let mut f = r.work().create_file(OsStr::new("new"), 0o600).unwrap();
        std::io::Write::write_all(&mut f, b"{}").unwrap();
        drop(f);
        r.switch_file(OsStr::new("new"), OsStr::new("reg.json"))
            .unwrap();
        assert!(r.finish().is_empty());
        assert_eq!(std::fs::read(&target).unwrap(), b"{}");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("data"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![OsString::from("reg.json")]);
    }

    #[test]
    fn a_symlink_at_the_work_folder_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::create_dir(&victim).unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join(".db.atocore-restore.tmp")).unwrap();
        let err = Replacement::begin(&fsio::real_path(dir.path()).join("db"), None, None, "test")
            .unwrap_err();
        assert!(matches!(err, Error::Symlink { .. }), "{err}");
        assert_eq!(std::fs::read_dir(&victim).unwrap().count(), 0);
    }
}
