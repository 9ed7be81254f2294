//! Everything printed goes through here, so that no text read from a manifest, a snapshot or
//! a file name can send control characters (terminal escape sequences) to the operator's
//! terminal: human text has them escaped (`\u{1b}`), JSON has them as `\u001b`.

use std::fmt::Display;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

/// A result line on stdout.
pub fn say(text: impl Display) {
    println!("{}", backup_core::fsio::display_clean(&text.to_string()));
}

/// A warning on stderr.
pub fn warn(text: &str) {
    eprintln!("warning: {}", backup_core::fsio::display_clean(text));
}

/// A note on stderr.
pub fn note(text: &str) {
    eprintln!("note: {}", backup_core::fsio::display_clean(text));
}

/// A line on stderr with its own prefix (`invalid: ...`, `drill problem: ...`).
pub fn tell(prefix: &str, text: impl Display) {
    eprintln!(
        "{prefix}: {}",
        backup_core::fsio::display_clean(&text.to_string())
    );
}

/// An error on stderr.
pub fn error(text: &str) {
    eprintln!("error: {}", backup_core::fsio::display_clean(text));
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

/// A path as a JSON value that survives any bytes: a string when it is UTF-8, else
/// `{"hex": "..."}` (the manifest's form).
pub fn jpath(p: &Path) -> Value {
    serde_json::to_value(backup_core::RecordedPath::from_path(p)).unwrap_or(Value::Null)
}
