//! The runbook's steps 4-7 as one command: `restore --stop-cmd --start-cmd --health-cmd`
//! around a real service process (tests/service/service.py) that holds the database open
//! while it runs. The service is stopped, the store restored, the service started on the
//! restored store and found healthy; a restore that fails verification leaves it stopped; a
//! restore refused before it changed anything starts it again.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::{code, env, json, stderr, Env};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/service/service.py")
}

/// The service's state folder and the shell commands that drive it.
struct Service {
    state: PathBuf,
    start: String,
    stop: String,
    health: String,
}

fn service(e: &Env) -> Service {
    let state = e.tmp.path().join("service");
    fs::create_dir_all(&state).unwrap();
    let q = |p: &Path| format!("'{}'", p.display());
    Service {
        start: format!(
            "setsid python3 {} {} {} > {} 2>&1 < /dev/null &",
            q(&script()),
            q(&e.db),
            q(&state),
            q(&state.join("log"))
        ),
        // The stop command also keeps its environment, for the test to read.
        stop: format!(
            "env > {}; kill $(cat {})",
            q(&state.join("stop-env")),
            q(&state.join("pid"))
        ),
        health: format!("test -s {}", q(&state.join("health"))),
        state,
    }
}

/// Whether process `pid` runs (exists and is not a zombie waiting to be reaped: an orphaned
/// service is reparented, and a container's first process may never reap it).
fn alive(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|st| {
            st.rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next())
        })
        .is_some_and(|state| state != 'Z' && state != 'X')
}

impl Service {
    fn pid(&self) -> Option<i32> {
        fs::read_to_string(self.state.join("pid"))
            .ok()
            .and_then(|p| p.trim().parse().ok())
    }

    fn running(&self) -> bool {
        self.pid()
            .is_some_and(|p| Path::new(&format!("/proc/{p}")).exists())
            && self.state.join("health").exists()
    }

    /// Start it as the operator would, and wait until it is up.
    fn start_now(&self) -> i32 {
        let _ = fs::remove_file(self.state.join("pid"));
        assert!(Command::new("sh")
            .arg("-c")
            .arg(&self.start)
            .status()
            .unwrap()
            .success());
        self.wait_running("the service did not start");
        self.pid().unwrap()
    }

    /// Wait (at most 30 s) until it runs, else fail saying `why`.
    fn wait_running(&self, why: &str) {
        let t = Instant::now();
        while !self.running() {
            assert!(t.elapsed() < Duration::from_secs(30), "{why}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn health(&self) -> String {
        fs::read_to_string(self.state.join("health")).unwrap_or_default()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(p) = self.pid() {
            let _ = Command::new("kill").arg(p.to_string()).status();
        }
    }
}

fn restore_with(e: &Env, s: &Service, stamp: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "restore",
        stamp,
        "--stop-cmd",
        &s.stop,
        "--start-cmd",
        &s.start,
        "--health-cmd",
        &s.health,
        "--health-timeout",
        "30",
        "--json",
    ];
    args.extend_from_slice(extra);
    // Object storage credentials in the tool's environment, which the service's commands
    // must never see.
    e.run_env(
        &args,
        &[
            ("ATOCORE_DB_PATH", e.db.as_os_str()),
            ("ATOCORE_PROJECT_REGISTRY_PATH", e.registry.as_os_str()),
            ("ATOCORE_BACKUP_DIR", e.backups.as_os_str()),
            (
                "AWS_SECRET_ACCESS_KEY",
                std::ffi::OsStr::new("service-must-not-see-this"),
            ),
            ("AWS_SESSION_TOKEN", std::ffi::OsStr::new("nor-this-token")),
        ],
    )
}

/// Each step's name and whether it succeeded, in order.
fn steps(v: &Value) -> Vec<(&str, bool)> {
    v["service"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_str().unwrap(), s["ok"] == true))
        .collect()
}

#[test]
fn the_service_is_stopped_restored_started_and_healthy() {
    let e = env();
    let stamp = e.create();
    e.mutate();
    let s = service(&e);
    let old = s.start_now();
    assert_eq!(s.health(), "500");
    // Without the stop command the service holds the store open, and the gate refuses.
    let out = e.run(&["restore", &stamp, "--confirm-service-stopped"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("python3"), "{}", stderr(&out));
    let out = restore_with(&e, &s, &stamp, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(
        steps(&v),
        [
            ("stop", true),
            ("wait_released", true),
            ("restore", true),
            ("start", true),
            ("health", true),
        ]
    );
    assert_eq!(v["service"]["started"], true);
    assert_eq!(v["service"]["healthy"], true);
    assert_eq!(v["restored_integrity_ok"], true);
    for st in v["service"]["steps"].as_array().unwrap() {
        assert!(st["ms"].is_u64(), "{st}");
    }
    // A new service process runs on the restored store (500 rows; the mutation had 500 too,
    // but not the same ones).
    let new = s.pid().unwrap();
    assert_ne!(new, old);
    assert!(s.running());
    assert!(!alive(old), "the old service process ended");
    assert!(e.memories(&e.db).iter().all(|m| m != "MUTATION"));
    assert!(stderr(&out).contains("service: health"), "{}", stderr(&out));
    // The commands get the environment the tool was given, not the allocator setting the
    // binary runs itself with.
    let seen = fs::read_to_string(s.state.join("stop-env")).unwrap();
    assert!(seen.contains("PATH="), "{seen}");
    assert!(
        !seen.contains("MALLOC_ARENA_MAX") && !seen.contains("ATOCORE_BACKUP_ONE_ARENA"),
        "{seen}"
    );
    // Nor the object storage credentials.
    assert!(
        !seen.contains("service-must-not-see-this") && !seen.contains("nor-this-token"),
        "{seen}"
    );
}

#[test]
fn a_restore_that_fails_verification_leaves_the_service_stopped() {
    let e = env();
    let canary = std::ffi::OsStr::new("SELECT count(*) FROM memories");
    let vars = |extra: Option<(&'static str, &'static str)>| {
        let mut v = vec![
            ("ATOCORE_DB_PATH", e.db.clone().into_os_string()),
            (
                "ATOCORE_PROJECT_REGISTRY_PATH",
                e.registry.clone().into_os_string(),
            ),
            ("ATOCORE_BACKUP_DIR", e.backups.clone().into_os_string()),
            ("ATOCORE_CANARY_SQL", canary.to_owned()),
        ];
        if let Some((k, val)) = extra {
            v.push((k, val.into()));
        }
        v
    };
    let out = {
        let v = vars(None);
        let v: Vec<(&str, &std::ffi::OsStr)> = v.iter().map(|(k, x)| (*k, x.as_os_str())).collect();
        e.run_env(&["create", "--json"], &v)
    };
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let stamp = json(&out)["stamp"].as_str().unwrap().to_owned();
    let s = service(&e);
    s.start_now();
    // The database is switched in; before it is verified, something writes to it (as a
    // service started too early would): the canary no longer holds.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_atocore-backup"));
    for (k, _) in std::env::vars() {
        if k.starts_with("ATOCORE_") {
            cmd.env_remove(k);
        }
    }
    cmd.args([
        "restore",
        &stamp,
        "--stop-cmd",
        &s.stop,
        "--start-cmd",
        &s.start,
        "--health-cmd",
        &s.health,
        "--json",
    ])
    .envs(vars(Some(("ATOCORE_FAILPOINT_PAUSE_MS", "1500"))));
    let (child, err) =
        common::stop_at_with(cmd, "restore.after-sqlite", std::process::Stdio::piped());
    rusqlite::Connection::open(&e.db)
        .unwrap()
        .execute("INSERT INTO memories(content) VALUES ('early')", [])
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = err.join().unwrap();
    assert_eq!(out.status.code(), Some(1), "{err}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        steps(&v),
        [
            ("stop", true),
            ("wait_released", true),
            ("restore", false),
            ("start", false),
        ]
    );
    assert_eq!(v["service"]["started"], false);
    assert_eq!(v["restored_integrity_ok"], false);
    let start = &v["service"]["steps"][3];
    assert!(
        start["problem"].as_str().unwrap().contains("left stopped"),
        "{start}"
    );
    // The start command never ran.
    assert_eq!(start["attempts"], 0, "{start}");
    assert!(!s.running(), "the service was not started");
    assert!(err.contains("canary"), "{err}");
}

#[test]
fn a_restore_refused_before_it_changed_anything_starts_the_service_again() {
    let e = env();
    let stamp = e.create();
    // The live database was migrated since: the schema gate refuses the older snapshot.
    rusqlite::Connection::open(&e.db)
        .unwrap()
        .execute_batch("ALTER TABLE memories ADD COLUMN project TEXT;")
        .unwrap();
    let s = service(&e);
    let old = s.start_now();
    let out = restore_with(&e, &s, &stamp, &[]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("does not have the live store's schema"),
        "{err}"
    );
    assert!(err.contains("service: start"), "{err}");
    s.wait_running(&format!("started again: {err}"));
    assert_ne!(s.pid().unwrap(), old);
}

#[test]
fn a_stop_command_from_the_environment_is_not_consent() {
    let e = env();
    let stamp = e.create();
    let s = service(&e);
    s.start_now();
    let before = e.live_bytes();
    let vars = [
        ("ATOCORE_DB_PATH", e.db.as_os_str()),
        ("ATOCORE_PROJECT_REGISTRY_PATH", e.registry.as_os_str()),
        ("ATOCORE_BACKUP_DIR", e.backups.as_os_str()),
        ("ATOCORE_STOP_CMD", std::ffi::OsStr::new(&s.stop)),
        ("ATOCORE_START_CMD", std::ffi::OsStr::new(&s.start)),
    ];
    let out = e.run_env(&["restore", &stamp], &vars);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("confirm this restore over the live store"),
        "{}",
        stderr(&out)
    );
    assert!(s.running(), "the service was not stopped");
    let _ = before;
    // With the confirmation, the commands from the environment are used.
    let out = e.run_env(
        &["restore", &stamp, "--confirm-service-stopped", "--json"],
        &vars,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["service"]["started"], true);
}

#[test]
fn a_health_command_that_hangs_is_killed_at_the_timeout() {
    let e = env();
    let stamp = e.create();
    let s = service(&e);
    s.start_now();
    let out = e.run(&[
        "restore",
        &stamp,
        "--stop-cmd",
        &s.stop,
        "--start-cmd",
        &s.start,
        "--health-cmd",
        "sleep 600",
        "--health-timeout",
        "2",
        "--json",
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let v = json(&out);
    let health = v["service"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|st| st["step"] == "health")
        .unwrap()
        .clone();
    assert_eq!(health["ok"], false);
    let problem = health["problem"].as_str().unwrap();
    assert!(
        problem.contains("did not become healthy within 2 s") && problem.contains("was killed"),
        "{problem}"
    );
    assert_eq!(v["service"]["healthy"], false);
    // The service itself was started and is left running for the operator to look at.
    assert_eq!(v["service"]["started"], true);
}
