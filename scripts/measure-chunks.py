"""Measure how chunk size decides what a second snapshot of a Chroma store costs.

Builds a Chroma persist folder with the real chromadb package, keeps a copy, changes the
store the way the service does (adds and updates 1% of the records), keeps a second copy, and
prints, per file kind and chunk size, the share of the second copy's bytes that are in chunks
the first copy does not have (what a deduplicating repository would store again).
Fixed-size aligned chunks; the SQLite file is also cut at its page size.

    python scripts/measure-chunks.py [RECORDS] [DIMENSION] [SYNC_THRESHOLD]

chromadb writes vectors into the HNSW files in batches (its `hnsw:sync_threshold`, 1000 by
default): changes below it stay queued in chroma.sqlite3. A small threshold shows what the
HNSW files cost once a batch is written.

Run with a Python that has chromadb (scripts/test.sh installs one under target/).
"""
import hashlib
import os
import random
import shutil
import sys
import tempfile

os.environ["ANONYMIZED_TELEMETRY"] = "False"
import chromadb  # noqa: E402

SIZES = [4096, 16384, 65536, 262144, 1048576]


def add(col, start, n, dim, rng, prefix="r"):
    for s in range(start, start + n, 500):
        ids = [f"{prefix}{i}" for i in range(s, min(start + n, s + 500))]
        col.add(
            ids=ids,
            embeddings=[[rng.uniform(-1, 1) for _ in range(dim)] for _ in ids],
            documents=[f"memory {i}" for i in ids],
        )


def chunks(path, size):
    out = []
    with open(path, "rb") as f:
        while True:
            b = f.read(size)
            if not b:
                return out
            out.append((hashlib.sha256(b).digest(), len(b)))


def kind(rel):
    name = os.path.basename(rel)
    if name == "chroma.sqlite3":
        return "chroma.sqlite3"
    if name in ("data_level0.bin", "link_lists.bin"):
        return name
    return "other"


def files(root):
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            yield os.path.relpath(p, root), p


def main():
    records = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    dim = int(sys.argv[2]) if len(sys.argv) > 2 else 384
    sync = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    rng = random.Random(20261130)
    work = tempfile.mkdtemp()
    live = os.path.join(work, "live")
    client = chromadb.PersistentClient(path=live)
    col = client.create_collection(
        "memories",
        embedding_function=None,
        metadata={"hnsw:sync_threshold": sync, "hnsw:batch_size": min(sync, 100)},
    )
    add(col, 0, records, dim, rng)
    del col, client
    first = os.path.join(work, "first")
    shutil.copytree(live, first)
    client = chromadb.PersistentClient(path=live)
    col = client.get_collection("memories", embedding_function=None)
    n = max(1, records // 100)
    add(col, records, n, dim, rng)
    ids = [f"r{i}" for i in rng.sample(range(records), n)]
    col.update(ids=ids, embeddings=[[rng.uniform(-1, 1) for _ in range(dim)] for _ in ids])
    del col, client
    second = os.path.join(work, "second")
    shutil.copytree(live, second)

    print(f"{records} records of dimension {dim}, sync threshold {sync}; then {n} added and {n} updated")
    print(f"{'file':<16} {'bytes':>12} " + " ".join(f"{s // 1024:>6}K" for s in SIZES))
    totals = {}
    for size in SIZES:
        have = {h for _, p in files(first) for h, _ in chunks(p, size)}
        for rel, p in files(second):
            k = kind(rel)
            t = totals.setdefault(k, {"bytes": 0})
            new = sum(length for h, length in chunks(p, size) if h not in have)
            t[size] = t.get(size, 0) + new
            if size == SIZES[0]:
                t["bytes"] += os.path.getsize(p)
    for k, t in sorted(totals.items()):
        row = " ".join(f"{100 * t[s] / max(1, t['bytes']):>6.1f}%" for s in SIZES)
        print(f"{k:<16} {t['bytes']:>12} {row}")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
