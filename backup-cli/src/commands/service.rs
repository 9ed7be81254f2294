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

/// Run `cmd` with `sh -c` in a process group of its own, its stdout sent to our stderr, for
/// at most `limit` (then the whole group is killed); its exit code (`None`: it could not be
/// started, a signal ended it, or it ran too long) and what to say about a failure. The
/// variables the config file set for this run are not passed on: they are the tool's, not
/// the service's.
fn run(cmd: &str, limit: Duration) -> (Option<i32>, Option<String>) {
    use std::os::fd::AsFd;
    use std::os::unix::process::CommandExt;
    let stdout = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map_or_else(|_| Stdio::inherit(), Stdio::from);
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::inherit())
        .process_group(0);
    for var in crate::config::set_by_file() {
        c.env_remove(var);
    }
    // The service's commands may run as the service's user: never hand them the
    // repository's key or the object storage credentials.
    for (var, _) in std::env::vars_os() {
        let name = var.to_string_lossy();
        if name.starts_with("AWS_")
            || name.starts_with("ATOCORE_KEY")
            || name == "ATOCORE_COPY_TO_KEY_FILE"
        {
            c.env_remove(&var);
        }
    }
    let mut child = match c.spawn() {
        Ok(child) => child,
        Err(e) => return (None, Some(format!("could not be started: {e}"))),
    };
    let t = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Ok(s),
            Ok(None) if t.elapsed() >= limit => break Err(()),
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return (None, Some(format!("could not be waited for: {e}"))),
        }
    };
    match status {
        Ok(s) if s.success() => (Some(0), None),
        Ok(s) => (
            s.code(),
            Some(match s.code() {
                Some(c) => format!("exited with {c}"),
                None => "was ended by a signal".to_owned(),
            }),
        ),
        Err(()) => {
            // The group (the shell and what it started in the foreground) goes: the shell
            // leads the group it was put in.
            let _ = rustix::process::kill_process_group(
                rustix::process::Pid::from_child(&child),
                rustix::process::Signal::KILL,
            );
            let _ = child.kill();
            let _ = child.wait();
            (
                None,
                Some(format!(
                    "did not finish within {} s and was killed",
                    limit.as_secs()
                )),
            )
        }
    }
}

/// The record of a step: it succeeded when there is no `problem`.
pub fn record(
    step: &str,
    command: Option<&str>,
    attempts: u32,
    ms: u64,
    exit_code: Option<i32>,
    problem: Option<String>,
) -> ServiceStep {
    ServiceStep {
        step: step.to_owned(),
        command: command.map(str::to_owned),
        ok: problem.is_none(),
        exit_code,
        attempts,
        ms,
        problem,
    }
}

/// Run one command, for at most `limit`, as a step named `step`.
pub fn step(step: &str, cmd: &str, limit: Duration) -> ServiceStep {
    let t = Instant::now();
    let (code, failure) = run(cmd, limit);
    let problem = failure.map(|f| format!("the {step} command {f}"));
    record(step, Some(cmd), 1, ms(t), code, problem)
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
            return record("wait_released", None, attempts, ms(t), None, None);
        }
        if t.elapsed() >= timeout || backup_core::interrupt::requested().is_some() {
            let who: Vec<String> = scan
                .holders
                .iter()
                .map(backup_core::procs::OpenBy::describe)
                .collect();
            let problem = format!(
                "the live store was still open {} s after the stop command: {}",
                timeout.as_secs(),
                who.join("; ")
            );
            return record("wait_released", None, attempts, ms(t), None, Some(problem));
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
        // Each attempt may take what is left of the time, and at least a second.
        let left = timeout
            .saturating_sub(t.elapsed())
            .max(Duration::from_secs(1));
        let (code, failure) = run(cmd, left);
        if failure.is_none()
            || t.elapsed() >= timeout
            || backup_core::interrupt::requested().is_some()
        {
            let problem = failure.map(|f| {
                format!(
                    "the service did not become healthy within {} s (the health command {f} \
                     on attempt {attempts})",
                    timeout.as_secs()
                )
            });
            return record("health", Some(cmd), attempts, ms(t), code, problem);
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// A step that was not run, and why.
pub fn skipped(step: &str, cmd: Option<&str>, why: &str) -> ServiceStep {
    record(step, cmd, 0, 0, None, Some(why.to_owned()))
}
