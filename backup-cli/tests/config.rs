//! The config file: settings written once (paths, canary queries, retention policy, service
//! commands), overridden by environment variables and options; unknown keys and bad values
//! are errors naming the file; as root, a file others can change is refused.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

mod common;
use common::{code, env, json, stderr, Env};

/// Run with only the config file named (no other ATOCORE_ variable), plus `vars`.
fn run_config(e: &Env, config: &std::path::Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_atocore-backup"));
    for (k, _) in std::env::vars() {
        if k.starts_with("ATOCORE_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(args)
        .env("ATOCORE_CONFIG", config)
        .envs(vars.iter().copied())
        .current_dir(e.tmp.path());
    let out = cmd.output().unwrap();
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    out
}

fn write_config(e: &Env, text: &str) -> std::path::PathBuf {
    let p = e.tmp.path().join("atocore-backup.toml");
    fs::write(&p, text).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
    p
}

fn base(e: &Env, backups: &std::path::Path) -> String {
    format!(
        "backup_dir = {:?}\nlock_timeout = 5\n\n[stores]\ndb = {:?}\nregistry = {:?}\n\
         canary_sql = [\"SELECT count(*) FROM memories\", \"SELECT max(id) FROM memories\"]\n\n\
         [prune]\nkeep_last = 1\nkeep_pre_restore = \"1d\"\n",
        backups.to_str().unwrap(),
        e.db.to_str().unwrap(),
        e.registry.to_str().unwrap()
    )
}

#[test]
fn a_config_file_gives_paths_canaries_and_retention() {
    let e = env();
    let cfg = write_config(&e, &base(&e, &e.backups));
    let out = run_config(&e, &cfg, &["create", "--json"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["backup_root"], e.backups.to_str().unwrap());
    assert_eq!(
        v["components"][0]["facts"]["canaries"],
        serde_json::json!([
            {"sql": "SELECT count(*) FROM memories", "rows": [[500]]},
            {"sql": "SELECT max(id) FROM memories", "rows": [[500]]},
        ])
    );
    assert!(v["components"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == "registry" && c["present"] == true));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = run_config(&e, &cfg, &["create", "--json"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // keep_last = 1 from the file: the older snapshot goes.
    let out = run_config(&e, &cfg, &["prune", "--dry-run", "--json"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let plan = json(&out);
    assert_eq!(plan["remove"].as_array().unwrap().len(), 1, "{plan}");
    // An option overrides the file.
    let out = run_config(
        &e,
        &cfg,
        &["prune", "--dry-run", "--keep-last", "5", "--json"],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["remove"], serde_json::json!([]));
}

#[test]
fn the_environment_and_options_override_the_file() {
    let e = env();
    let from_file = e.tmp.path().join("from-file");
    let from_env = e.tmp.path().join("from-env");
    let from_flag = e.tmp.path().join("from-flag");
    let cfg = write_config(&e, &base(&e, &from_file));
    let root = |out: &Output| json(out)["backup_root"].as_str().unwrap().to_owned();
    let out = run_config(&e, &cfg, &["create", "--json"], &[]);
    assert_eq!(root(&out), from_file.to_str().unwrap());
    let out = run_config(
        &e,
        &cfg,
        &["create", "--json"],
        &[("ATOCORE_BACKUP_DIR", from_env.to_str().unwrap())],
    );
    assert_eq!(root(&out), from_env.to_str().unwrap());
    let out = run_config(
        &e,
        &cfg,
        &[
            "create",
            "--json",
            "--backup-dir",
            from_flag.to_str().unwrap(),
        ],
        &[("ATOCORE_BACKUP_DIR", from_env.to_str().unwrap())],
    );
    assert_eq!(root(&out), from_flag.to_str().unwrap());
    // --config on the command line names the file too.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_atocore-backup"));
    for (k, _) in std::env::vars() {
        if k.starts_with("ATOCORE_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .args(["--config", cfg.to_str().unwrap(), "list", "--json"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["snapshots"].as_array().unwrap().len(), 1);
}

#[test]
fn the_service_commands_come_from_the_file_for_live_restores_only() {
    let e = env();
    let stamp = {
        let cfg = write_config(&e, &base(&e, &e.backups));
        let out = run_config(&e, &cfg, &["create", "--json"], &[]);
        json(&out)["stamp"].as_str().unwrap().to_owned()
    };
    let text = format!(
        "{}\n[restore]\nstop_cmd = \"exit 3\"\n",
        base(&e, &e.backups)
    );
    let cfg = write_config(&e, &text);
    let before = e.live_bytes();
    // A stop command from the file is not consent to stop the service and restore.
    let out = run_config(&e, &cfg, &["restore", &stamp], &[]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("confirm this restore over the live store"),
        "{}",
        stderr(&out)
    );
    let out = run_config(
        &e,
        &cfg,
        &["restore", &stamp, "--confirm-service-stopped"],
        &[],
    );
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the stop command exited with 3"),
        "{}",
        stderr(&out)
    );
    assert!(e.live_bytes() == before, "nothing was restored");
    // A restore into a folder has no service to stop.
    let into = e.tmp.path().join("copy");
    let out = run_config(
        &e,
        &cfg,
        &["restore", &stamp, "--to", into.to_str().unwrap()],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn a_bad_config_file_is_an_error_naming_it() {
    let e = env();
    let cases = [
        ("backup_dri = \"/x\"\n", "unknown key \"backup_dri\""),
        (
            "[stores]\ndatabase = \"/x\"\n",
            "unknown key \"stores.database\"",
        ),
        ("backup_dir = [1, 2]\n", "backup_dir must be a string"),
        ("backup_dir = \n", "not valid TOML"),
        (
            "[prune]\nkeep_last = true\n",
            "prune.keep_last must be a whole number",
        ),
        (
            "lock_timeout = \"x\"\n",
            "lock_timeout must be a whole number",
        ),
        (
            "[prune]\nkeep_within = \"soon\"\n",
            "prune.keep_within must be a duration",
        ),
        (
            "[restore]\nstop_cmd = [\"a\", \"b\"]\n",
            "restore.stop_cmd must be a string",
        ),
        (
            "[stores]\ncanary_sql = [1]\n",
            "stores.canary_sql must be a list",
        ),
    ];
    for (text, says) in cases {
        let cfg = write_config(&e, text);
        let out = run_config(&e, &cfg, &["list"], &[]);
        assert_eq!(code(&out), 2, "{text}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("config {}", cfg.display())) && err.contains(says),
            "{text}: {err}"
        );
    }
    let missing = e.tmp.path().join("nope.toml");
    let out = run_config(&e, &missing, &["list"], &[]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("nope.toml"), "{}", stderr(&out));
}

#[test]
fn as_root_a_config_file_others_can_change_is_refused() {
    if !common::is_root() {
        common::skip("a config file others can change is refused only as root");
        return;
    }
    let e = env();
    let cfg = write_config(&e, &base(&e, &e.backups));
    fs::set_permissions(&cfg, fs::Permissions::from_mode(0o666)).unwrap();
    let out = run_config(&e, &cfg, &["list"], &[]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("writable by root only"),
        "{}",
        stderr(&out)
    );
}
