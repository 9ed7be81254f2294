//! A tiny fake component (a folder of plain files, `notes/mod.rs`) that lives only in these
//! tests. It runs the whole conformance suite through the real orchestrator, which proves a
//! new component needs no change to core: it implements the trait with core's helpers and
//! nothing else.

mod notes;

use notes::{Notes, NotesFolder};

backup_core::conformance_tests!(NotesFolder, Notes);
