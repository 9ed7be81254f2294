//! Progress bars: drawn on a terminal (a real pseudo-terminal, made by `script` from
//! util-linux) with each phase, bytes and rate; never drawn into a pipe or with
//! `--no-progress`.

use std::process::{Command, Output};

use rusqlite::Connection;

mod common;
use common::{code, env, stderr, Env};

/// Make the test store about 96 MB, so that every phase lasts long enough to be drawn.
fn grow(e: &Env) {
    let c = Connection::open(&e.db).unwrap();
    c.execute_batch(
        "CREATE TABLE blobs(id INTEGER PRIMARY KEY, data BLOB);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 24000)
         INSERT INTO blobs(data) SELECT randomblob(4000) FROM n;",
    )
    .unwrap();
}

/// Run the binary with `args` inside a pseudo-terminal; what the terminal received (stdout
/// and stderr, escape sequences included) comes back as stdout.
fn on_terminal(e: &Env, args: &[&str]) -> Output {
    let cmd = std::iter::once(env!("CARGO_BIN_EXE_atocore-backup"))
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ");
    Command::new("script")
        .args(["-q", "-f", "-e", "-c", &cmd, "/dev/null"])
        .env("TERM", "xterm")
        .env("ATOCORE_DB_PATH", &e.db)
        .env("ATOCORE_PROJECT_REGISTRY_PATH", &e.registry)
        .env("ATOCORE_BACKUP_DIR", &e.backups)
        .output()
        .expect("`script` (util-linux) runs; .ci/run installs it")
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether the transcript holds a drawn bar of phase `what` that showed a rate in MiB/s or
/// GiB/s and a byte count in MiB.
fn drew(transcript: &str, what: &str) -> bool {
    transcript.split(['\r', '\n']).any(|line| {
        line.contains(what)
            && line.contains('[')
            && (line.contains("MiB/s") || line.contains("GiB/s"))
            && line.contains(" MiB/")
    })
}

/// Whether the transcript shows the open-ended phase `what` (its total is not known ahead):
/// its name, bytes counted and a rate.
fn drew_open(transcript: &str, what: &str) -> bool {
    transcript
        .split(['\r', '\n'])
        .any(|line| line.contains(what) && line.contains("B/s"))
}

#[test]
fn long_runs_draw_each_phase_with_bytes_and_rate_on_a_terminal_only() {
    let e = env();
    grow(&e);

    let out = on_terminal(&e, &["create"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let t = text(&out);
    assert!(drew(&t, "create"), "no create bar drawn: {t:?}");
    // The result line follows the cleared bar on the same terminal line.
    let stamp: String = t
        .split("stamp: ")
        .nth(1)
        .expect("the stamp is printed")
        .chars()
        .take(16)
        .collect();

    let out = on_terminal(&e, &["validate", &stamp]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(drew(&text(&out), "validate"), "{:?}", text(&out));

    let to = e.tmp.path().join("restored");
    let out = on_terminal(&e, &["restore", &stamp, "--to", to.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let t = text(&out);
    for phase in ["validate", "restore"] {
        assert!(drew(&t, phase), "no {phase} bar drawn: {t:?}");
    }
    assert!(drew_open(&t, "verify"), "no verify line drawn: {t:?}");

    let out = on_terminal(&e, &["drill", &stamp]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let t = text(&out);
    for phase in ["validate", "restore"] {
        assert!(drew(&t, phase), "no {phase} bar drawn in the drill: {t:?}");
    }

    // --no-progress on a terminal: the results, no bar.
    let out = on_terminal(&e, &["validate", &stamp, "--no-progress"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("is valid"), "{t:?}");
    assert!(!t.contains("MiB/s") && !t.contains('['), "{t:?}");

    // Not a terminal (stderr is a pipe): no bar, no escape sequence.
    let out = e.run(&["drill", &stamp]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(!err.contains("MiB/s") && !err.contains('\u{1b}'), "{err:?}");
}
