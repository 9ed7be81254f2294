//! Property tests of the manifest parser and the validator, bounded so they run in CI: no
//! input makes them panic, no manifest they accept can name a file outside its component's
//! folder, and no problem the validator reports names a path outside the snapshot.
//! (The open-ended version is the cargo-fuzz target in fuzz/, run by hand.)

use std::path::{Component as Part, Path};

use backup_core::{FolderStore, Manifest, Orchestrator, Stamp, MANIFEST_NAME};
use proptest::prelude::*;

fn path_part() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("..".to_owned()),
        Just(".".to_owned()),
        Just(String::new()),
        Just("sqlite".to_owned()),
        Just("registry".to_owned()),
        "[a-z0-9._-]{1,8}",
        "[\\\\/:\\x00 a-z]{1,4}",
    ]
}

fn file_path() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just(""), Just("/"), Just("sqlite/"), Just("registry/")],
        prop::collection::vec(path_part(), 1..5),
    )
        .prop_map(|(prefix, parts)| format!("{prefix}{}", parts.join("/")))
}

fn manifest_json() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just(1u32), any::<u32>()],
        prop::collection::vec(("[a-z]{1,8}|sqlite|registry", file_path(), 0u64..100), 0..4),
    )
        .prop_map(|(version, entries)| {
            let components: Vec<String> = entries
                .iter()
                .map(|(id, path, size)| {
                    format!(
                        r#"{{"id": {id:?}, "present": true, "files": [{{"path": {path:?}, "size": {size}, "sha256": "{}"}}], "facts": {{}}}}"#,
                        "ab".repeat(32)
                    )
                })
                .collect();
            format!(
                r#"{{"format_version": {version}, "stamp": "20260409T012345Z", "created_at": "x", "tool_version": "t", "kind": "regular", "sources": {{}}, "components": [{}]}}"#,
                components.join(",")
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Manifest::parse(&bytes);
    }

    #[test]
    fn accepted_paths_stay_inside_their_component_folder(json in manifest_json()) {
        if let Ok(m) = Manifest::parse(json.as_bytes()) {
            for c in &m.components {
                for f in &c.files {
                    let p = Path::new(&f.path);
                    prop_assert!(p.is_relative(), "{}", f.path);
                    prop_assert!(p.components().all(|x| matches!(x, Part::Normal(_))), "{}", f.path);
                    prop_assert!(p.starts_with(&c.id) && p.components().count() >= 2, "{}", f.path);
                    prop_assert!(!f.path.contains('\\'));
                }
            }
        }
    }

    #[test]
    fn validating_any_manifest_never_panics_nor_names_a_path_outside(json in manifest_json()) {
        let tmp = tempfile::tempdir().unwrap();
        let snap = tmp.path().join("b/snapshots/20260409T012345Z");
        std::fs::create_dir_all(snap.join("sqlite")).unwrap();
        std::fs::write(snap.join("sqlite/x"), b"x").unwrap();
        std::fs::write(tmp.path().join("b/outside"), b"secret").unwrap();
        std::fs::write(snap.join(MANIFEST_NAME), &json).unwrap();
        let store = FolderStore::new(tmp.path().join("b"));
        let known: Vec<Box<dyn backup_core::Component>> = Vec::new();
        let v = Orchestrator::new(&store, &known)
            .validate(&Stamp::parse("20260409T012345Z").unwrap())
            .unwrap();
        // Nothing here can be valid: no component is known to this build of the test.
        prop_assert!(!v.is_valid() || v.manifest.as_ref().is_some_and(|m| m.components.is_empty()));
        // Every file the validator looked at is named inside the snapshot folder.
        for p in &v.problems {
            let path = Path::new(&p.path);
            prop_assert!(path.is_relative(), "{p}");
            prop_assert!(path.components().all(|x| matches!(x, Part::Normal(_) | Part::CurDir)), "{p}");
        }
    }
}
