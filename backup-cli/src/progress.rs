//! Progress on stderr: a bar with bytes, rate and time left for each phase of a long run,
//! drawn with indicatif when stderr is a terminal (and not with `--no-progress`), never
//! otherwise: logs and pipes get only the results and the messages.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Draws core's progress reports.
struct Bar {
    current: Mutex<Option<ProgressBar>>,
}

const TEMPLATE: &str =
    "{msg:>15} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}";
/// For a phase whose total is not known in advance (verify: SQLite's integrity check reads
/// the database itself, uncounted): what was counted, the rate, the time spent.
const OPEN_TEMPLATE: &str = "{msg:>15} {spinner} {binary_bytes} {binary_bytes_per_sec} {elapsed}";

impl backup_core::Progress for Bar {
    fn start(&self, what: &str, total: u64) {
        let (template, length) = match total {
            0 => (OPEN_TEMPLATE, None),
            n => (TEMPLATE, Some(n)),
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(length, ProgressDrawTarget::stderr())
            .with_style(style)
            .with_message(what.to_owned());
        if length.is_none() {
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
        }
        if let Ok(mut c) = self.current.lock() {
            if let Some(old) = c.replace(bar) {
                old.finish_and_clear();
            }
        }
    }

    fn advance(&self, bytes: u64) {
        if let Ok(c) = self.current.lock() {
            if let Some(bar) = c.as_ref() {
                // A live store that grew while it was copied: the total follows.
                if bar.length().is_some_and(|len| bar.position() + bytes > len) {
                    bar.set_length(bar.position() + bytes);
                }
                bar.inc(bytes);
            }
        }
    }

    fn finish(&self) {
        if let Ok(mut c) = self.current.lock() {
            if let Some(bar) = c.take() {
                bar.finish_and_clear();
            }
        }
    }
}

/// The progress receiver for this run: a bar when stderr is a terminal and progress was not
/// turned off, else none.
pub fn receiver(enabled: bool) -> Option<Arc<dyn backup_core::Progress>> {
    (enabled && std::io::stderr().is_terminal()).then(|| {
        Arc::new(Bar {
            current: Mutex::new(None),
        }) as Arc<dyn backup_core::Progress>
    })
}
