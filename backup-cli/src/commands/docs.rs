//! `completions SHELL` and `man [--dir DIR]`: generated from the same definitions the command
//! line is parsed with (component options included), so they cannot drift from it. The copies
//! under docs/ are checked against them by `backup-cli/tests/generated.rs`.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use backup_core::Descriptor;

use crate::exit_codes;

pub fn completions(known: &[&Descriptor], shell: clap_complete::Shell) -> Result<u8> {
    let mut cmd = crate::cli::command(known);
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "atocore-backup", &mut out);
    std::io::stdout()
        .write_all(&out)
        .context("cannot write to standard output")?;
    Ok(exit_codes::OK)
}

pub fn man(known: &[&Descriptor], dir: Option<&Path>) -> Result<u8> {
    let cmd = crate::cli::command(known);
    match dir {
        None => {
            // The same page `--dir` writes (rendered the way clap_mangen renders a tree).
            let tmp = tempfile::tempdir().context("cannot make a scratch folder")?;
            clap_mangen::generate_to(cmd, tmp.path()).context("cannot render the man page")?;
            let page = std::fs::read(tmp.path().join("atocore-backup.1"))
                .context("cannot read the rendered man page")?;
            std::io::stdout()
                .write_all(&page)
                .context("cannot write to standard output")?;
        }
        Some(dir) => {
            // Rendered in a scratch folder, then each page written into `dir` through a
            // temporary name (never through a symlink there), readable by everyone.
            let tmp = tempfile::tempdir().context("cannot make a scratch folder")?;
            clap_mangen::generate_to(cmd, tmp.path()).context("cannot render the man pages")?;
            let out = backup_core::Dir::open(dir)?;
            let mut pages: Vec<_> = std::fs::read_dir(tmp.path())
                .context("cannot list the rendered man pages")?
                .collect::<std::io::Result<_>>()
                .context("cannot list the rendered man pages")?;
            pages.sort_by_key(std::fs::DirEntry::file_name);
            for p in pages {
                let bytes = std::fs::read(p.path()).context("cannot read a rendered man page")?;
                out.write_atomic_mode(&p.file_name(), &bytes, 0o644)?;
            }
        }
    }
    Ok(exit_codes::OK)
}
