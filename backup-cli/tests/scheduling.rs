//! Monitoring and scheduling: `status` says whether backups are fresh and proven (newest
//! snapshot, last drill and check, their ages, repository size), `status --prometheus` writes
//! the same as node_exporter textfile metrics (checked by a strict parser of the exposition
//! format), and the systemd units in docs/systemd pass `systemd-analyze verify`.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

mod common;
use common::{code, env, json, stderr};

/// The samples of a Prometheus text exposition, checked strictly: every sample's metric has
/// a `# HELP` and a `# TYPE` before it, names and label names are valid, label values are
/// quoted with only `\\`, `\"` and `\n` escaped, values parse as floats, no sample repeats.
fn parse_exposition(text: &str) -> BTreeMap<String, (BTreeMap<String, String>, f64)> {
    let valid_name = |n: &str| {
        let mut cs = n.chars();
        cs.next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    assert!(text.ends_with('\n'), "ends with a newline");
    let mut helped = BTreeMap::new();
    let mut typed = BTreeMap::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            assert!(valid_name(name) && !help.is_empty(), "{line}");
            assert!(
                helped.insert(name.to_owned(), ()).is_none(),
                "HELP twice: {line}"
            );
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(valid_name(name), "{line}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(
                typed.insert(name.to_owned(), kind.to_owned()).is_none(),
                "{line}"
            );
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "stray line {line:?}"
        );
        let (name, rest) = match line.find('{') {
            Some(i) => (&line[..i], &line[i..]),
            None => line.split_at(line.find(' ').expect("name value")),
        };
        assert!(valid_name(name), "{line}");
        assert!(
            helped.contains_key(name) && typed.contains_key(name),
            "{line}"
        );
        let mut labels = BTreeMap::new();
        let value_text = if let Some(body) = rest.strip_prefix('{') {
            // label="value"(,label="value")*} value
            let mut chars = body.chars().peekable();
            loop {
                let lname: String = chars.by_ref().take_while(|c| *c != '=').collect();
                assert!(valid_name(&lname), "label name in {line}");
                assert_eq!(chars.next(), Some('"'), "{line}");
                let mut v = String::new();
                loop {
                    match chars.next().expect("unterminated label value") {
                        '\\' => match chars.next() {
                            Some('\\') => v.push('\\'),
                            Some('"') => v.push('"'),
                            Some('n') => v.push('\n'),
                            other => panic!("bad escape {other:?} in {line}"),
                        },
                        '"' => break,
                        '\n' => panic!("raw newline in {line}"),
                        c => v.push(c),
                    }
                }
                labels.insert(lname, v);
                match chars.next() {
                    Some(',') => continue,
                    Some('}') => break,
                    other => panic!("{other:?} after a label in {line}"),
                }
            }
            let rest: String = chars.collect();
            rest.strip_prefix(' ')
                .expect("space before value")
                .to_owned()
        } else {
            rest.trim_start().to_owned()
        };
        let value: f64 = value_text
            .parse()
            .unwrap_or_else(|_| panic!("value in {line}"));
        assert!(
            samples.insert(name.to_owned(), (labels, value)).is_none(),
            "sample twice: {line}"
        );
    }
    samples
}

#[test]
fn status_reports_freshness_and_proof_and_writes_prometheus_metrics() {
    let e = env();
    // Before anything: an empty backup dir, no drill, no check; metrics still parse. (A
    // backup dir that does not exist is an error: monitoring then sees the metrics go stale.)
    let out = e.run(&["status"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    fs::create_dir_all(&e.backups).unwrap();
    let prom = e.tmp.path().join("metrics").join("atocore.prom");
    fs::create_dir_all(prom.parent().unwrap()).unwrap();
    let out = e.run(&["status", "--json", "--prometheus", prom.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v = json(&out);
    assert!(v["newest_snapshot"].is_null() && v["last_drill"].is_null());
    let m = parse_exposition(&fs::read_to_string(&prom).unwrap());
    assert_eq!(m["atocore_backup_snapshots"].1, 0.0);
    assert!(!m.contains_key("atocore_backup_last_drill_timestamp_seconds"));

    let stamp = e.create();
    let out = e.run(&["drill", &stamp]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = e.run(&["check", "--read-data"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = e.run(&["status", "--json", "--prometheus", prom.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["newest_snapshot"]["stamp"], stamp.as_str());
    assert_eq!(v["newest_regular_snapshot"]["stamp"], stamp.as_str());
    assert_eq!(v["last_successful_drill"]["stamp"], stamp.as_str());
    assert_eq!(v["last_drill"]["ok"], true);
    assert_eq!(v["last_check"]["ok"], true);
    assert_eq!(v["last_clean_check"]["detail"], "all");
    for k in ["newest_snapshot", "last_drill", "last_check"] {
        let age = v[k]["age_seconds"].as_i64().unwrap();
        assert!((0..600).contains(&age), "{k}: {age}");
    }
    let bytes = v["repository_bytes"].as_u64().unwrap();
    assert!(bytes > 0);
    let m = parse_exposition(&fs::read_to_string(&prom).unwrap());
    let (labels, _) = &m["atocore_backup_snapshots"];
    assert_eq!(labels["backup_dir"], e.backups.to_str().unwrap());
    assert_eq!(m["atocore_backup_snapshots"].1, 1.0);
    assert_eq!(m["atocore_backup_last_drill_ok"].1, 1.0);
    assert_eq!(m["atocore_backup_last_check_clean"].1, 1.0);
    assert_eq!(m["atocore_backup_unfinished_restore"].1, 0.0);
    assert_eq!(m["atocore_backup_repository_bytes"].1, bytes as f64);
    let taken = m["atocore_backup_newest_snapshot_timestamp_seconds"].1;
    let status_at = m["atocore_backup_status_timestamp_seconds"].1;
    assert!(taken <= status_at && status_at - taken < 600.0);
    // Nothing but the metrics file is left in its folder (written through a temporary name).
    let names: Vec<_> = fs::read_dir(prom.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, [std::ffi::OsString::from("atocore.prom")]);
    // Readable by node_exporter's own user.
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&prom).unwrap().permissions().mode() & 0o777,
        0o644
    );

    // A failed drill is the last drill, not the last successful one.
    let mpath = e.manifest_path(&stamp);
    let mut man: serde_json::Value = serde_json::from_slice(&fs::read(&mpath).unwrap()).unwrap();
    man["components"][0]["facts"]["page_count"] = 1.into();
    fs::write(&mpath, serde_json::to_vec(&man).unwrap()).unwrap();
    let out = e.run(&["drill", &stamp]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let out = e.run(&["status", "--json", "--prometheus", prom.to_str().unwrap()]);
    let v = json(&out);
    assert_eq!(v["last_drill"]["ok"], false);
    assert_eq!(v["last_successful_drill"]["ok"], true);
    let m = parse_exposition(&fs::read_to_string(&prom).unwrap());
    assert_eq!(m["atocore_backup_last_drill_ok"].1, 0.0);
    let text = String::from_utf8(e.run(&["status"]).stdout).unwrap();
    assert!(
        text.contains("last drill: ") && text.contains("FAILED"),
        "{text}"
    );
}

#[test]
fn a_label_value_is_escaped() {
    // A backup dir whose path needs escaping in a label.
    let e = env();
    let odd = e.tmp.path().join("back\"up\\dir");
    fs::create_dir_all(&odd).unwrap();
    let prom = e.tmp.path().join("m.prom");
    let out = e.run_env(
        &["status", "--prometheus", prom.to_str().unwrap()],
        &[
            ("ATOCORE_DB_PATH", e.db.as_os_str()),
            ("ATOCORE_BACKUP_DIR", odd.as_os_str()),
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let m = parse_exposition(&fs::read_to_string(&prom).unwrap());
    assert_eq!(
        m["atocore_backup_snapshots"].0["backup_dir"],
        odd.to_str().unwrap()
    );
}

#[test]
fn the_systemd_units_pass_systemd_analyze_verify() {
    let units = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/systemd");
    let tmp = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_atocore-backup");
    let mut files = Vec::new();
    for e in fs::read_dir(&units).unwrap() {
        let p = e.unwrap().path();
        let text = fs::read_to_string(&p).unwrap();
        // The units name the installed binary; verify checks that it exists.
        let text = text.replace("/usr/local/bin/atocore-backup", bin);
        let to = tmp.path().join(p.file_name().unwrap());
        fs::write(&to, text).unwrap();
        files.push(to);
    }
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for job in ["create", "prune", "check", "drill"] {
        for kind in ["service", "timer"] {
            let n = format!("atocore-backup-{job}.{kind}");
            assert!(names.contains(&n), "{n} in {names:?}");
        }
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg("--man=no")
        .args(&files)
        .output()
        .expect("systemd-analyze must be installed (.ci/run installs systemd)");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every command line the units run parses with this build's options.
    for f in &files {
        for line in fs::read_to_string(f).unwrap().lines() {
            let Some(cmd) = line
                .strip_prefix("ExecStart=")
                .or_else(|| line.strip_prefix("ExecStopPost="))
            else {
                continue;
            };
            if !cmd.starts_with(bin) {
                continue;
            }
            let args: Vec<&str> = cmd[bin.len()..].split_whitespace().collect();
            let out = Command::new(bin)
                .args(&args)
                .arg("--help")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{cmd}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
