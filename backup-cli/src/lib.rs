//! The parts of `atocore-backup` that others may use: the shapes of its `--json` output (so
//! that scripts written in Rust, and this crate's tests, read the output with the types the
//! binary writes it with; docs/output.md documents them as public API), and the registration
//! list of the components this build knows.

pub mod components;
pub mod json;
