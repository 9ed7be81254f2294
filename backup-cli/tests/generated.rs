//! The shell completions and man pages under docs/ are what this build generates from its
//! command-line definitions (regenerate them with scripts/generate-docs.sh), and `--version`
//! names the formats the build writes.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_atocore-backup"));
    for (k, _) in std::env::vars() {
        if k.starts_with("ATOCORE_") {
            c.env_remove(k);
        }
    }
    c
}

fn docs() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs")
}

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_committed_completions_are_current() {
    for (shell, file) in [
        ("bash", "atocore-backup.bash"),
        ("zsh", "_atocore-backup"),
        ("fish", "atocore-backup.fish"),
    ] {
        let out = bin().args(["completions", shell]).output().unwrap();
        assert!(out.status.success());
        assert!(!out.stdout.is_empty());
        let committed = fs::read(docs().join("completions").join(file)).unwrap();
        assert!(
            out.stdout == committed,
            "docs/completions/{file} is not what this build generates: run \
             scripts/generate-docs.sh"
        );
    }
    // The completions know the options components add and the newest commands.
    let bash = fs::read_to_string(docs().join("completions/atocore-backup.bash")).unwrap();
    for word in [
        "--chroma",
        "--canary-sql",
        "--stop-cmd",
        "--prometheus",
        "completions",
    ] {
        assert!(bash.contains(word), "{word}");
    }
}

#[test]
fn the_committed_man_pages_are_current() {
    let tmp = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["man", "--dir", tmp.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let made = files(tmp.path());
    let committed = files(&docs().join("man"));
    assert_eq!(
        made.keys().collect::<Vec<_>>(),
        committed.keys().collect::<Vec<_>>(),
        "docs/man: run scripts/generate-docs.sh"
    );
    for (name, bytes) in &made {
        assert!(
            committed[name] == *bytes,
            "docs/man/{name} is not what this build generates: run scripts/generate-docs.sh"
        );
    }
    assert!(made.contains_key("atocore-backup.1") && made.contains_key("atocore-backup-restore.1"));
    // `man` without --dir prints the main page.
    let out = bin().arg("man").output().unwrap();
    assert!(out.status.success());
    assert!(out.stdout == made["atocore-backup.1"]);
}

#[test]
fn version_names_the_formats() {
    let out = bin().arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
    for want in [
        format!("manifest format {}", backup_core::FORMAT_VERSION),
        format!("reads {}", backup_core::OLDEST_FORMAT_VERSION),
        format!("JSON output format {}", backup_cli::json::FORMAT_VERSION),
        format!("drill log format {}", backup_core::DRILL_LOG_VERSION),
        format!("check log format {}", backup_core::CHECK_LOG_VERSION),
    ] {
        assert!(text.contains(&want), "{want}: {text}");
    }
}
