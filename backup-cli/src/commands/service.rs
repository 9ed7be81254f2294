//! The runbook's steps 4-7 around a live restore: stop the service, wait until nothing holds
//! the live store open, restore, start the service only when verification passed, and wait
//! for it to be healthy. Each step is timed and reported.
//!
//! The commands are the operator's (`docker compose stop atocore`, `systemctl start ...`),
//! run by `sh -c`, with their output on our stderr (stdout stays ours, for `--json`).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use backup_cli::json::ServiceStep;
use backup_core::Orchestrator;

/// The commands and limits given on the command line.
pub struct ServiceCommands {
    pub stop: Option<String>,
    pub start: Option<String>,
    pub health: Option<String>,
    pub stop_timeout: Duration,
    pub health_timeout: Duration,
}

impl ServiceCommands {
    /// Whether any command was given.
    pub fn any(&self) -> bool {
        self.stop.is_some() || self.start.is_some() || self.health.is_some()
    }
}

fn ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Run `cmd` with `sh -c`, its stdout sent to our stderr; its exit code (`None`: it could not
/// be started, or a signal ended it) and what to say about a failure.
fn run(cmd: &str) -> (Option<i32>, Option<String>) {
    use std::os::fd::AsFd;
    let stdout = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map_or_else(|_| Stdio::inherit(), Stdio::from);
    match Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::inherit())
        .status()
    {
        Ok(s) if s.success() => (Some(0), None),
        Ok(s) => (
            s.code(),
            Some(match s.code() {
                Some(c) => format!("exited with {c}"),
                None => "was ended by a signal".to_owned(),
            }),
        ),
        Err(e) => (None, Some(format!("could not be started: {e}"))),
    }
}

/// Run one command as a step named `step`.
pub fn step(step: &str, cmd: &str) -> ServiceStep {
    let t = Instant::now();
    let (code, failure) = run(cmd);
    ServiceStep {
        step: step.to_owned(),
        command: Some(cmd.to_owned()),
        ok: failure.is_none(),
        exit_code: code,
        attempts: 1,
        ms: ms(t),
        problem: failure.map(|f| format!("the {step} command {f}")),
    }
}

/// Wait until no other process holds the live stores at `targets` open (what the restore's
/// gate checks), up to `timeout`.
pub fn wait_released(
    o: &Orchestrator<'_>,
    targets: &std::collections::BTreeMap<String, PathBuf>,
    timeout: Duration,
) -> ServiceStep {
    let t = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let scan = o.holders(targets);
        if scan.holders.is_empty() {
            return ServiceStep {
                step: "wait_released".into(),
                command: None,
                ok: true,
                exit_code: None,
                attempts,
                ms: ms(t),
                problem: None,
            };
        }
        if t.elapsed() >= timeout || backup_core::interrupt::requested().is_some() {
            let who: Vec<String> = scan
                .holders
                .iter()
                .map(|h| {
                    format!(
                        "pid {} ({}) has {} open",
                        h.pid,
                        h.command,
                        h.path.display()
                    )
                })
                .collect();
            return ServiceStep {
                step: "wait_released".into(),
                command: None,
                ok: false,
                exit_code: None,
                attempts,
                ms: ms(t),
                problem: Some(format!(
                    "the live store was still open {} s after the stop command: {}",
                    timeout.as_secs(),
                    who.join("; ")
                )),
            };
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Run the health command until it succeeds, once a second, up to `timeout`.
pub fn wait_healthy(cmd: &str, timeout: Duration) -> ServiceStep {
    let t = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let (code, failure) = run(cmd);
        if failure.is_none()
            || t.elapsed() >= timeout
            || backup_core::interrupt::requested().is_some()
        {
            return ServiceStep {
                step: "health".into(),
                command: Some(cmd.to_owned()),
                ok: failure.is_none(),
                exit_code: code,
                attempts,
                ms: ms(t),
                problem: failure.map(|f| {
                    format!(
                        "the service did not become healthy within {} s (the health command \
                         {f} on attempt {attempts})",
                        timeout.as_secs()
                    )
                }),
            };
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// A step that was not run, and why.
pub fn skipped(step: &str, cmd: Option<&str>, why: &str) -> ServiceStep {
    ServiceStep {
        step: step.to_owned(),
        command: cmd.map(str::to_owned),
        ok: false,
        exit_code: None,
        attempts: 0,
        ms: 0,
        problem: Some(why.to_owned()),
    }
}
