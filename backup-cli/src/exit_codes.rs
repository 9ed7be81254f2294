//! Exit codes of `atocore-backup`. Part of the public API.

/// Success: the answer is yes.
pub const OK: u8 = 0;
/// A negative answer: the snapshot is invalid, or integrity or verification failed.
pub const NO: u8 = 1;
/// A usage or operational error, a refusal, or an unknown stamp (clap's own usage errors are 2).
pub const ERROR: u8 = 2;

/// Stopped by SIGINT (128 + 2) or SIGTERM (128 + 15): computed from the signal in `main`.
pub const INTERRUPTED_BASE: u8 = 128;
