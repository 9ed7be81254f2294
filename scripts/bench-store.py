"""The Python half of scripts/bench.sh: builds the store it measures, changes it, runs the
service's original backup method, and prints the report.

    bench-store.py db FILE SIZE_MB              a WAL database of about SIZE_MB
    bench-store.py chroma DIR SIZE_MB           a Chroma persist folder of about SIZE_MB
    bench-store.py registry FILE                a small project-registry JSON
    bench-store.py change FILE PERCENT SEED     UPDATE the content of PERCENT% of the rows
    bench-store.py original DB CHROMA REGISTRY OUT   the service's original backup method
    bench-store.py bytes DIR                    the bytes of the files under DIR
    bench-store.py sizes LIVE SIZE_MB           store.json: the bytes of each part of LIVE
    bench-store.py report RESULTS               the markdown tables, from bench.sh's RESULTS

`chroma` needs the chromadb package (1.5.9) and numpy; every other subcommand needs only
the standard library, so hyperfine's runs of `original` do not pay for importing chromadb.
Everything is seeded: the same SIZE_MB gives the same store, the same SEED the same change.
"""
import hashlib
import itertools
import json
import os
import random
import shutil
import sqlite3
import sys
import time

PROJECTS = [f"project-{n:02d}" for n in range(24)]


def vocabulary(rng, n=20000):
    """Word-like tokens, drawn with Zipf-like weights, so that text compresses like prose."""
    syllables = ["ka", "to", "re", "mi", "sa", "lo", "ne", "pu", "di", "va", "ri", "co",
                 "ta", "be", "lu", "fo", "ge", "ni", "ho", "se", "ma", "dra", "st", "en",
                 "qu", "or", "al", "ex", "in", "ch", "th", "ph", "er", "on", "ly", "ing"]
    words = set()
    while len(words) < n:
        words.add("".join(rng.choice(syllables) for _ in range(rng.choice((1, 2, 2, 3, 3, 4)))))
    words = sorted(words)
    rng.shuffle(words)
    weights = [1.0 / (i + 1) for i in range(len(words))]
    return words, weights


class Prose:
    """Sentences of vocabulary words, capitalised and punctuated, LOW..HIGH bytes a text."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.words, weights = vocabulary(random.Random(1))
        self.cum = list(itertools.accumulate(weights))

    def text(self, low=1000, high=2000):
        rng = self.rng
        target = rng.randint(low, high)
        # About 7 bytes a word with its space: draw more than needed, then cut.
        words = rng.choices(self.words, cum_weights=self.cum, k=target // 5)
        out, size, i = [], 0, 0
        while size < target and i < len(words):
            n = rng.randint(6, 18)
            s = " ".join(words[i:i + n]).capitalize() + rng.choice(".....?!;")
            i += n
            out.append(s)
            size += len(s) + 1
        return " ".join(out)[:target]


def build_db(path, size_mb):
    target = size_mb * 1024 * 1024
    prose = Prose(20261130)
    rng = random.Random(7)
    c = sqlite3.connect(path)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("PRAGMA synchronous=OFF")
    c.execute("CREATE TABLE memories(id INTEGER PRIMARY KEY, project TEXT, content TEXT, "
              "created_at TEXT)")
    c.execute("CREATE INDEX memories_project ON memories(project)")
    c.execute("CREATE INDEX memories_created_at ON memories(created_at)")
    page = c.execute("PRAGMA page_size").fetchone()[0]
    n, t = 0, 1_700_000_000
    while c.execute("PRAGMA page_count").fetchone()[0] * page < target:
        rows = []
        for _ in range(2000):
            t += rng.randint(5, 600)
            rows.append((rng.choices(PROJECTS, weights=range(len(PROJECTS), 0, -1))[0],
                         prose.text(), iso(t)))
        c.executemany("INSERT INTO memories(project, content, created_at) VALUES (?, ?, ?)",
                      rows)
        c.commit()
        n += len(rows)
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()
    print(f"{path}: {n} rows, {os.path.getsize(path)} bytes", file=sys.stderr)


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def change(path, percent, seed):
    """What the service does between two snapshots: rewrite the content of PERCENT% of the
    memories, ids spread over the whole table, in one transaction through SQLite (pages change
    in place; the file is not rewritten). Closing the last connection checkpoints the WAL."""
    rng = random.Random(seed)
    prose = Prose(seed)
    c = sqlite3.connect(path)
    lo, hi = c.execute("SELECT min(id), max(id) FROM memories").fetchone()
    k = max(1, (hi - lo + 1) * percent // 100)
    ids = sorted(rng.sample(range(lo, hi + 1), k))
    with c:
        c.executemany("UPDATE memories SET content = ? WHERE id = ?",
                      ((prose.text(), i) for i in ids))
    c.close()
    print(f"changed {k} of {hi - lo + 1} rows", file=sys.stderr)


def build_chroma(path, size_mb):
    os.environ["ANONYMIZED_TELEMETRY"] = "False"
    import chromadb
    import numpy as np

    target = size_mb * 1024 * 1024
    rng = np.random.default_rng(20261130)
    prose = Prose(99)
    client = chromadb.PersistentClient(path=path)
    col = client.create_collection("memories", embedding_function=None)
    n, batch = 0, 1000
    # The HNSW files grow when a batch is synced (every 1,000 records by default),
    # chroma.sqlite3 with every add: batches of 1,000 keep the two in step.
    while folder_bytes(path) < target:
        ids = [f"m{i}" for i in range(n, n + batch)]
        emb = rng.standard_normal((batch, 384), dtype=np.float32)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        col.add(ids=ids, embeddings=emb, documents=[prose.text(150, 400) for _ in ids],
                metadatas=[{"project": PROJECTS[i % len(PROJECTS)]} for i in range(n, n + batch)])
        n += batch
    del col, client
    print(f"{path}: {n} records of dimension 384, {folder_bytes(path)} bytes", file=sys.stderr)


def folder_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def registry(path):
    projects = [{"id": p, "aliases": [p.replace("-", "")], "description": f"Memories of {p}",
                 "ingest_roots": [f"sources/{p}"]} for p in PROJECTS]
    with open(path, "w") as f:
        json.dump({"version": 1, "projects": projects}, f, indent=2)


def original(db, chroma, reg, out):
    """The service's original backup: the sqlite3 backup API for the database, copytree of
    the Chroma folder, copy2 of the registry, the SHA-256 of every copied file into a
    metadata file, then sync."""
    os.makedirs(out)
    src = sqlite3.connect(db)
    dst = sqlite3.connect(os.path.join(out, os.path.basename(db)))
    with dst:
        src.backup(dst)
    dst.close()
    src.close()
    shutil.copytree(chroma, os.path.join(out, os.path.basename(chroma)))
    shutil.copy2(reg, os.path.join(out, os.path.basename(reg)))
    sums = {}
    for d, _, names in os.walk(out):
        for n in names:
            p = os.path.join(d, n)
            h = hashlib.sha256()
            with open(p, "rb") as f:
                while b := f.read(1 << 20):
                    h.update(b)
            sums[os.path.relpath(p, out)] = h.hexdigest()
    with open(os.path.join(out, "backup-metadata.json"), "w") as f:
        json.dump({"files": sums}, f)
    os.sync()


# ---- report ---------------------------------------------------------------------------------

def fmt_time(s):
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"


def fmt_bytes(n):
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} B"


def sizes(live, size_mb):
    """store.json: the bytes of each part of the live store, as the report divides by."""
    parts = {"db": os.path.getsize(os.path.join(live, "atocore.db")),
             "chroma": folder_bytes(os.path.join(live, "chroma")),
             "registry": os.path.getsize(os.path.join(live, "project-registry.json"))}
    print(json.dumps({"size_mb": size_mb, "store": folder_bytes(live), **parts}))


def tsv(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def report(res):
    with open(os.path.join(res, "store.json")) as f:
        store = json.load(f)
    print(f"# atocore-backup benchmark ({store['size_mb']} MiB database)\n")
    print("| part of the live store | bytes |\n|---|---:|")
    for k, name in (("db", "SQLite database (WAL mode)"), ("chroma", "Chroma folder"),
                    ("registry", "registry JSON"),
                    ("store", "whole live folder (with the lock files)")):
        print(f"| {name} | {store[k]:,} ({fmt_bytes(store[k])}) |")
    print()
    with open(os.path.join(res, "notes.txt")) as f:
        for line in f:
            print(f"- {line.strip()}")
    print()
    print("Time tables: one row per job; median, min and max of its timed runs (wall clock, "
          "hyperfine; its prepare step is not timed); runs: how many; ratio: the median over "
          "the median of `cp -a + sync` of the live folder in the same table (each table "
          "measures its own).\n")

    for fname, title in tsv(os.path.join(res, "groups.tsv")):
        with open(os.path.join(res, fname)) as f:
            runs = json.load(f)["results"]
        base = next(r for r in runs if r["command"] == "cp -a + sync")
        print(f"## {title}\n")
        print("| job | median | min | max | runs | ratio to cp -a + sync |")
        print("|---|---:|---:|---:|---:|---:|")
        for r in runs:
            print(f"| {r['command']} | {fmt_time(r['median'])} | {fmt_time(r['min'])} | "
                  f"{fmt_time(r['max'])} | {len(r['times'])} | "
                  f"{r['median'] / base['median']:.2f} |")
        print()

    print("## Bytes a snapshot adds to the repository\n")
    print("| tool | snapshot | data added | manifest | total | % of database | % of store "
          "| repository growth on disk | growth, % of store |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for tool, snap, data, manifest, growth in tsv(os.path.join(res, "added.tsv")):
        total = int(data) + int(manifest or 0)
        print(f"| {tool} | {snap} | {fmt_bytes(int(data))} | "
              f"{fmt_bytes(int(manifest)) if manifest else '—'} | {fmt_bytes(total)} | "
              f"{100 * total / store['db']:.2f}% | {100 * total / store['store']:.2f}% | "
              f"{fmt_bytes(int(growth))} | {100 * int(growth) / store['store']:.2f}% |")
    print()
    print("data added: atocore-backup `create --json` → `stored.added_bytes` (new packs); restic: "
          "the growth of `restic stats --mode raw-data` (compressed blobs); borg: `borg create "
          "--json` → this archive's `deduplicated_size`. manifest: atocore-backup's new "
          "`snapshots/<stamp>/backup-metadata.json` object. repository growth: the repository "
          "folder's bytes after minus before (atocore-backup: `objects/`, without the local "
          "index cache; restic and borg: the repository, without their caches).\n")

    print("## Peak resident memory\n")
    print("| command | peak RSS (max) | median | samples |\n|---|---:|---:|---:|")
    for key, name in tsv(os.path.join(res, "rss.tsv")):
        p = os.path.join(res, "rss", key)
        kib = sorted(int(x) for x in open(p).read().split() if x.isdigit()) \
            if os.path.exists(p) else []
        if kib:
            print(f"| {name} | {kib[-1] / 1024:.1f} MiB | {kib[len(kib) // 2] / 1024:.1f} MiB | "
                  f"{len(kib)} |")
    print()
    print("`/usr/bin/time -f %M` of every timed run and of the runs that measured the bytes "
          "added (samples).")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "db":
        build_db(args[0], int(args[1]))
    elif cmd == "chroma":
        build_chroma(args[0], int(args[1]))
    elif cmd == "registry":
        registry(args[0])
    elif cmd == "change":
        change(args[0], int(args[1]), int(args[2]))
    elif cmd == "original":
        original(*args)
    elif cmd == "bytes":
        print(folder_bytes(args[0]))
    elif cmd == "sizes":
        sizes(args[0], int(args[1]))
    elif cmd == "report":
        report(args[0])
    else:
        sys.exit(f"unknown subcommand {cmd}")


if __name__ == "__main__":
    main()
