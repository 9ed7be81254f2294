//! `atocore-backup`: glue between the command line and backup-core. The only crate that prints.

mod cli;
mod commands;
mod config;
mod exit_codes;
mod output;
mod progress;

use std::process::ExitCode;
use std::time::{Duration, Instant};

/// SIGINT and SIGTERM: the first asks the run to stop at its next safe point, where the
/// ordinary error paths remove what it started. If it does not get there within a few
/// seconds (one long SQLite step), or a second signal comes, this thread removes the
/// registered temporary folders itself and exits with 128 + the signal.
fn install_signal_thread() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    std::thread::spawn(move || {
        let Some(first) = signals.forever().next() else {
            return;
        };
        backup_core::interrupt::request(first);
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if signals.pending().next().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let (removed, kept) = backup_core::interrupt::remove_registered();
        let name = backup_core::signal_name(first);
        for p in removed {
            output::warn(&format!("{name}: removed {}", p.display()));
        }
        for p in kept {
            output::warn(&format!(
                "{name}: kept {} for `restore --resume`/`--rollback` (see `status`)",
                p.display()
            ));
        }
        output::error(&format!("interrupted by {name}"));
        std::process::exit(i32::from(exit_codes::INTERRUPTED_BASE) + first);
    });
}

/// Set in the environment of the run [`one_malloc_arena`] starts, and taken out there.
const ONE_ARENA_MARK: &str = "ATOCORE_BACKUP_ONE_ARENA";

/// glibc gives each thread that allocates an arena of its own and keeps what is freed there
/// for later: with the threads a run uses (capture, hashing, compressing, checking each store)
/// that was 15-25 MiB of freed buffers kept resident (a live restore of the benchmark's store
/// peaked at 76 MiB; with one arena at 44-48 MiB, in the same time). glibc reads
/// `MALLOC_ARENA_MAX` only when the process starts, so the binary runs itself again, once,
/// with it set to 1, unless the operator set it; that run takes the setting out of the
/// environment again, so the commands it starts (a service's) do not inherit it.
fn one_malloc_arena() {
    if std::env::var_os(ONE_ARENA_MARK).is_some() {
        std::env::remove_var(ONE_ARENA_MARK);
        std::env::remove_var("MALLOC_ARENA_MAX");
        return;
    }
    if !cfg!(all(target_os = "linux", target_env = "gnu"))
        || std::env::var_os("MALLOC_ARENA_MAX").is_some()
    {
        return;
    }
    use std::os::unix::process::CommandExt;
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| "atocore-backup".into());
    // Returns only when the exec failed (no /proc): then this run goes on as it is.
    let _ = std::process::Command::new("/proc/self/exe")
        .arg0(arg0)
        .args(args)
        .env(ONE_ARENA_MARK, "1")
        .env("MALLOC_ARENA_MAX", "1")
        .exec();
}

fn main() -> ExitCode {
    one_malloc_arena();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Err(e) = config::apply(&args, backup_cli::components::KNOWN) {
        output::error(&e);
        return ExitCode::from(exit_codes::ERROR);
    }
    let cli = cli::parse(backup_cli::components::KNOWN);
    install_signal_thread();
    let result = commands::run(cli);
    if let Some(why) = output::stdout_failure() {
        output::error(&format!(
            "the result could not be written to standard output ({why}); the operation itself \
             {}",
            if result.is_ok() {
                "completed"
            } else {
                "failed, as said above"
            }
        ));
        if result.is_ok() {
            return ExitCode::from(exit_codes::ERROR);
        }
    }
    match result {
        Ok(code) => match backup_core::interrupt::requested() {
            // Stopped where nothing could be cleaned any more (a restore that completed, a
            // report being printed): the result stands, the exit code says it was stopped.
            Some(sig) if code == exit_codes::OK || code == exit_codes::NO => {
                output::error(&format!(
                    "interrupted by {} after the work above was done: what it reports stands",
                    backup_core::signal_name(sig)
                ));
                ExitCode::from(exit_codes::INTERRUPTED_BASE + sig as u8)
            }
            _ => ExitCode::from(code),
        },
        Err(e) => {
            output::error(&format!("{e:#}"));
            let core = || {
                e.chain()
                    .filter_map(|c| c.downcast_ref::<backup_core::Error>())
            };
            if let Some(backup_core::Error::Interrupted { signal, .. }) =
                core().find(|c| matches!(c, backup_core::Error::Interrupted { .. }))
            {
                return ExitCode::from(exit_codes::INTERRUPTED_BASE + *signal as u8);
            }
            let negative = core().any(backup_core::Error::is_negative_answer);
            ExitCode::from(if negative {
                exit_codes::NO
            } else {
                exit_codes::ERROR
            })
        }
    }
}
