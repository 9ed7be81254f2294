//! Progress of long work: which phase a run is in and how many of its bytes have been read
//! or written. Core reports; a front end draws (the CLI with a bar on a terminal).
//!
//! Bytes are counted where they flow: the one copy-and-hash loop in `fsio` that every copy
//! and every checksum goes through. The receiver is per thread (an [`Orchestrator`] installs
//! it for the length of an operation), so runs in other threads are never mixed in.
//!
//! [`Orchestrator`]: crate::Orchestrator

use std::cell::RefCell;
use std::sync::Arc;

/// What a front end implements to show progress.
pub trait Progress: Send + Sync {
    /// A phase begins: `what` it is (`create`, `validate`, `restore`, `verify`, `safety
    /// snapshot`) and the bytes it is expected to move (0 when unknown). A phase may move a
    /// little more or less than expected: a live store changes while it is copied.
    fn start(&self, what: &str, total: u64);
    /// `bytes` more were read or written in the current phase.
    fn advance(&self, bytes: u64);
    /// The current phase ended.
    fn finish(&self);
}

thread_local! {
    static SINK: RefCell<Option<Arc<dyn Progress>>> = const { RefCell::new(None) };
}

/// Reports go to a receiver while this lives; the previous one comes back after.
pub(crate) struct Reporting {
    previous: Option<Option<Arc<dyn Progress>>>,
}

impl Drop for Reporting {
    fn drop(&mut self) {
        if let Some(previous) = self.previous.take() {
            SINK.with(|s| *s.borrow_mut() = previous);
        }
    }
}

/// Send this thread's reports to `to` (nothing changes for `None`).
pub(crate) fn report_to(to: Option<&Arc<dyn Progress>>) -> Reporting {
    Reporting {
        previous: to.map(|p| SINK.with(|s| s.borrow_mut().replace(p.clone()))),
    }
}

/// One phase: started when made, finished when dropped.
pub(crate) struct Phase {
    sink: Option<Arc<dyn Progress>>,
}

impl Drop for Phase {
    fn drop(&mut self) {
        if let Some(s) = &self.sink {
            s.finish();
        }
    }
}

/// Begin the phase `what`, expected to move `total` bytes.
pub(crate) fn phase(what: &str, total: u64) -> Phase {
    let sink = SINK.with(|s| s.borrow().clone());
    if let Some(s) = &sink {
        s.start(what, total);
    }
    Phase { sink }
}

/// The receiver of this thread, for a worker thread to report to as well
/// ([`report_to`]).
pub(crate) fn current() -> Option<Arc<dyn Progress>> {
    SINK.with(|s| s.borrow().clone())
}

/// Count `bytes` more in the current phase.
pub(crate) fn advance(bytes: u64) {
    SINK.with(|s| {
        if let Some(s) = s.borrow().as_ref() {
            s.advance(bytes);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Log(Mutex<Vec<String>>);

    impl Progress for Log {
        fn start(&self, what: &str, total: u64) {
            self.0.lock().unwrap().push(format!("start {what} {total}"));
        }
        fn advance(&self, bytes: u64) {
            self.0.lock().unwrap().push(format!("+{bytes}"));
        }
        fn finish(&self) {
            self.0.lock().unwrap().push("finish".into());
        }
    }

    #[test]
    fn reports_reach_the_receiver_of_this_thread_only_while_installed() {
        let log = Arc::new(Log::default());
        let sink: Arc<dyn Progress> = log.clone();
        advance(1);
        {
            let _r = report_to(Some(&sink));
            let _p = phase("validate", 10);
            advance(4);
            std::thread::spawn(|| advance(99)).join().unwrap();
            advance(6);
        }
        advance(2);
        assert_eq!(
            *log.0.lock().unwrap(),
            ["start validate 10", "+4", "+6", "finish"]
        );
    }
}
