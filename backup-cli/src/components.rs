//! Every component this build knows. Restore dispatches by the id written in a manifest
//! through this list, so adding a component is one new crate plus one line here.

use backup_core::Component;

use crate::cli::Global;

/// The known components, in the order `create` captures them.
pub fn known_components(opts: &Global) -> Vec<Box<dyn Component>> {
    vec![
        Box::new(backup_sqlite::SqliteComponent),
        Box::new(backup_registry::RegistryComponent),
        Box::new(
            backup_chroma::ChromaComponent::new(opts.ingestion_lock.clone())
                .with_lock_wait(std::time::Duration::from_secs(opts.lock_timeout)),
        ),
    ]
}
