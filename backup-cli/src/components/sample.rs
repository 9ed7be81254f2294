//! The built-in sample store for `drill --sample`: a WAL-mode SQLite database shaped like the
//! service's memory store, a project registry, and a small Chroma persist folder (two
//! collections, written by chromadb 1.5.9: the committed test fixture, built into the binary).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use backup_core::Source;
use rusqlite::Connection;

/// Paths of a sample store.
pub struct Sample {
    pub db: PathBuf,
    pub registry: PathBuf,
    /// Every store of the sample, by component id, in registration order.
    pub sources: Vec<Source>,
}

/// One file of the sample Chroma folder: its path inside the folder and its bytes.
macro_rules! file {
    ($rel:literal) => {
        (
            $rel,
            include_bytes!(concat!("../../../tests/fixtures/chroma/1.5.9/small/", $rel)) as &[u8],
        )
    };
}

/// The sample Chroma folder, file by file.
const CHROMA: &[(&str, &[u8])] = &[
    file!("609c5f42-0506-4c2a-8386-4b1585eb9060/data_level0.bin"),
    file!("609c5f42-0506-4c2a-8386-4b1585eb9060/header.bin"),
    file!("609c5f42-0506-4c2a-8386-4b1585eb9060/length.bin"),
    file!("609c5f42-0506-4c2a-8386-4b1585eb9060/link_lists.bin"),
    file!("af25423b-3bbb-4917-b9e2-550cde8f6307/data_level0.bin"),
    file!("af25423b-3bbb-4917-b9e2-550cde8f6307/header.bin"),
    file!("af25423b-3bbb-4917-b9e2-550cde8f6307/length.bin"),
    file!("af25423b-3bbb-4917-b9e2-550cde8f6307/link_lists.bin"),
    file!("chroma.sqlite3"),
];

/// Write the sample Chroma folder at `dir`.
fn build_chroma(dir: &Path) -> Result<()> {
    for (rel, bytes) in CHROMA {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

const PROJECTS: [&str; 4] = ["atlas", "borealis", "cinder", "delta"];

/// Build the sample store inside `dir`.
pub fn build(dir: &Path) -> Result<Sample> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let db = dir.join("atocore.db");
    let c = Connection::open(&db).with_context(|| format!("cannot create {}", db.display()))?;
    c.execute_batch(
        "PRAGMA journal_mode=WAL;
         PRAGMA user_version=3;
         CREATE TABLE projects(id TEXT PRIMARY KEY, name TEXT NOT NULL);
         CREATE TABLE memories(
             id INTEGER PRIMARY KEY,
             project_id TEXT REFERENCES projects(id),
             kind TEXT NOT NULL,
             content TEXT NOT NULL,
             created_at TEXT NOT NULL);
         CREATE INDEX memories_project ON memories(project_id);
         CREATE TABLE interactions(
             id INTEGER PRIMARY KEY,
             memory_id INTEGER REFERENCES memories(id),
             query TEXT NOT NULL,
             score REAL);",
    )?;
    let tx = c.unchecked_transaction()?;
    for p in PROJECTS {
        tx.execute(
            "INSERT INTO projects VALUES (?1, ?2)",
            (p, p.to_uppercase()),
        )?;
    }
    for i in 0..2000i64 {
        let project = PROJECTS[(i % 4) as usize];
        tx.execute(
            "INSERT INTO memories(project_id, kind, content, created_at) VALUES (?1, ?2, ?3, ?4)",
            (
                project,
                if i % 3 == 0 { "decision" } else { "fact" },
                format!(
                    "sample memory {i} about {project}: {}",
                    "context ".repeat((i % 40) as usize)
                ),
                format!("2026-01-{:02}T00:00:00Z", 1 + i % 28),
            ),
        )?;
        tx.execute(
            "INSERT INTO interactions(memory_id, query, score) VALUES (?1, ?2, ?3)",
            (
                i + 1,
                format!("what about {project}?"),
                (i % 100) as f64 / 100.0,
            ),
        )?;
    }
    tx.commit()?;
    let registry = dir.join("project-registry.json");
    let projects: Vec<_> = PROJECTS
        .iter()
        .map(|p| serde_json::json!({"id": p, "name": p.to_uppercase(), "aliases": [p[..2].to_owned()]}))
        .collect();
    std::fs::write(
        &registry,
        serde_json::to_vec_pretty(&serde_json::json!({ "projects": projects }))?,
    )
    .with_context(|| format!("cannot write {}", registry.display()))?;
    let chroma = dir.join("chroma");
    build_chroma(&chroma)?;
    let sources = vec![
        Source {
            id: backup_sqlite::ID.into(),
            path: db.clone(),
        },
        Source {
            id: backup_registry::ID.into(),
            path: registry.clone(),
        },
        Source {
            id: backup_chroma::ID.into(),
            path: chroma,
        },
    ];
    Ok(Sample {
        db,
        registry,
        sources,
    })
}

/// Change the sample after its backup, as the service would: new memories, a new project.
pub fn mutate(s: &Sample) -> Result<()> {
    let c = Connection::open(&s.db)?;
    c.execute_batch(
        "INSERT INTO projects VALUES ('echo', 'ECHO');
         INSERT INTO memories(project_id, kind, content, created_at)
             SELECT 'echo', 'fact', 'written after the backup', '2026-02-01T00:00:00Z'
             FROM memories LIMIT 50;",
    )?;
    std::fs::write(
        &s.registry,
        br#"{"projects": [{"id": "echo", "name": "ECHO"}]}"#,
    )?;
    Ok(())
}

/// Number of memories in a sample database.
pub fn memory_count(db: &Path) -> Result<i64> {
    let c = Connection::open(db)?;
    Ok(c.query_row("SELECT count(*) FROM memories", [], |r| r.get(0))?)
}
