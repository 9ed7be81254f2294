//! Everything printed goes through here, so that no text read from a manifest, a snapshot or
//! a file name can send control characters (terminal escape sequences) to the operator's
//! terminal: human text has them escaped (`\u{1b}`), JSON has them as `\u001b`.

use std::fmt::Display;
use std::io::Write;
use std::sync::Mutex;

use serde::Serialize;

/// The first failure to write a result to stdout (a closed pipe, a full disk): the work is
/// done, but whoever reads the result did not get it, and the exit code must say so.
static STDOUT_FAILED: Mutex<Option<String>> = Mutex::new(None);

/// Why stdout could not be written, if it could not.
pub fn stdout_failure() -> Option<String> {
    STDOUT_FAILED.lock().ok().and_then(|f| f.clone())
}

/// Write one line to stdout; a failure is remembered, never a panic.
pub fn stdout_line(line: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
        if let Ok(mut f) = STDOUT_FAILED.lock() {
            f.get_or_insert(e.to_string());
        }
    }
}

/// Write one line to stderr; nothing else can be done if that fails.
fn stderr_line(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// A result line on stdout.
pub fn say(text: impl Display) {
    stdout_line(&backup_core::fsio::display_clean(&text.to_string()));
}

/// The proofs a check gave, one line each on stdout (`proof: chroma: collection ...`).
pub fn proofs(evidence: &[backup_core::Evidence]) {
    for e in evidence {
        say(format!("proof: {}: {}", e.component, e.text));
    }
}

/// A warning on stderr.
pub fn warn(text: &str) {
    stderr_line(&format!(
        "warning: {}",
        backup_core::fsio::display_clean(text)
    ));
}

/// A note on stderr.
pub fn note(text: &str) {
    stderr_line(&format!("note: {}", backup_core::fsio::display_clean(text)));
}

/// A line on stderr with its own prefix (`invalid: ...`, `drill problem: ...`).
pub fn tell(prefix: &str, text: impl Display) {
    stderr_line(&format!(
        "{prefix}: {}",
        backup_core::fsio::display_clean(&text.to_string())
    ));
}

/// An error on stderr.
pub fn error(text: &str) {
    stderr_line(&format!(
        "error: {}",
        backup_core::fsio::display_clean(text)
    ));
}

/// `value` as pretty JSON. serde_json escapes C0 controls itself; DEL and the C1 range
/// (U+0080 to U+009F, which some terminals read as escape sequences) are escaped here too.
pub fn json_text(value: &impl Serialize) -> anyhow::Result<String> {
    let text = serde_json::to_string_pretty(value)?;
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\u{7f}' || ('\u{80}'..='\u{9f}').contains(&c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    Ok(out)
}
