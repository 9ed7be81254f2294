//! The one place in the binary that names concrete components.
//!
//! [`KNOWN`] is the registration list: the command line's options, `--skip`, the source list,
//! the summaries and the JSON are built from it, and restore dispatches by the id written in
//! a manifest through it. Adding a component is one new crate, one dependency line in this
//! crate's `Cargo.toml` and one line here. The built-in sample store of the service
//! (`drill --sample`) lives beside it, in [`sample`].

pub mod sample;

use backup_core::Descriptor;

/// Every component this build knows, in the order `create` captures them and `restore`
/// switches them.
pub static KNOWN: &[&Descriptor] = &[
    &backup_sqlite::DESCRIPTOR,
    &backup_registry::DESCRIPTOR,
    &backup_chroma::DESCRIPTOR,
    &backup_files::DESCRIPTOR,
];
