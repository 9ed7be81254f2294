"""Make, change and describe real Chroma stores with the real chromadb package.

Used to build the committed fixtures (see make_fixtures.sh) and by the end-to-end tests.
Embeddings are always passed explicitly, so no embedding model is ever downloaded.

    python chroma_tool.py make DIR            build the reference store (collections below
                                              and past their first sync)
    python chroma_tool.py make-small DIR      a store whose collections are all below their
                                              first sync (no pickle anywhere)
    python chroma_tool.py make-spaces DIR     one synced collection per distance function
                                              (l2, ip, cosine), with deletes the index holds
    python chroma_tool.py mutate DIR          add, update, delete, drop a collection
    python chroma_tool.py describe DIR OUT    write what chromadb reads back, as JSON
    python chroma_tool.py write DIR SECONDS LOCK|-   add records for SECONDS, per batch
                                              holding the ingestion lock LOCK (- for none)
"""
import fcntl
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
import time

os.environ["ANONYMIZED_TELEMETRY"] = "False"
import chromadb  # noqa: E402

QUERY = {8: [0.25] * 8, 16: [0.1 * ((i % 5) - 2) for i in range(16)]}


def vectors(rng, n, dim):
    return [[round(rng.uniform(-1, 1), 6) for _ in range(dim)] for _ in range(n)]


def add(col, prefix, start, n, dim, rng):
    for s in range(start, start + n, 250):
        ids = [f"{prefix}{i}" for i in range(s, min(start + n, s + 250))]
        col.add(
            ids=ids,
            embeddings=vectors(rng, len(ids), dim),
            documents=[f"{prefix} document {i}" for i in ids],
            metadatas=[{"n": int(i[len(prefix):]), "tag": prefix} for i in ids],
        )


def make(path):
    rng = random.Random(20260409)
    client = chromadb.PersistentClient(path=path)
    # Below the first sync: no pickle yet, every vector only in the queue.
    notes = client.create_collection("notes", embedding_function=None)
    add(notes, "n", 0, 40, 8, rng)
    # Past the first sync (1,000 records) with rows still queued, and queued deletes.
    papers = client.create_collection("papers", embedding_function=None)
    add(papers, "p", 0, 1300, 16, rng)
    papers.delete(ids=["p3", "p1205"])
    papers.update(ids=["p7"], embeddings=vectors(rng, 1, 16), documents=["p updated"])
    # A second synced collection of the same dimension (a swap of folders must be caught).
    archive = client.create_collection("archive", embedding_function=None)
    add(archive, "a", 0, 1100, 16, rng)


def make_small(path):
    rng = random.Random(20260410)
    client = chromadb.PersistentClient(path=path)
    for name, dim, n in [("notes", 8, 300), ("drafts", 16, 120)]:
        col = client.create_collection(name, embedding_function=None)
        add(col, name[0], 0, n, dim, rng)
    client.get_collection("notes", embedding_function=None).delete(ids=["n5", "n6"])


def make_spaces(path):
    rng = random.Random(20261130)
    client = chromadb.PersistentClient(path=path)
    for space in ["l2", "ip", "cosine"]:
        col = client.create_collection(
            f"space-{space}", metadata={"hnsw:space": space}, embedding_function=None
        )
        add(col, space[0], 0, 1500, 32, rng)
        # Deleted after the first sync, then enough added for a second one: the index holds
        # elements marked deleted, which a search walks through but never returns.
        col.delete(ids=[f"{space[0]}{i}" for i in range(0, 1500, 15)])
        add(col, space[0], 2000, 1100, 32, rng)


def mutate(path):
    rng = random.Random(7)
    client = chromadb.PersistentClient(path=path)
    papers = client.get_collection("papers", embedding_function=None)
    add(papers, "p", 5000, 30, 16, rng)
    papers.update(ids=["p10", "p11"], embeddings=vectors(rng, 2, 16), documents=["changed", "changed"])
    papers.delete(ids=[f"p{i}" for i in range(100, 160)])
    client.delete_collection("archive")
    notes = client.get_collection("notes", embedding_function=None)
    notes.upsert(ids=["n1", "n999"], embeddings=vectors(rng, 2, 8), documents=["up", "new"])


def digest(value):
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def describe(path, out):
    # chromadb writes to chroma.sqlite3 even to read: describe a copy, never the store.
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, "copy")
        shutil.copytree(path, copy)
        client = chromadb.PersistentClient(path=copy)
        result = {}
        # 0.6.x lists names, 1.x lists collection objects.
        names = sorted(c if isinstance(c, str) else c.name for c in client.list_collections())
        for name in names:
            col = client.get_collection(name, embedding_function=None)
            got = col.get(include=["documents", "metadatas", "embeddings"])
            order = sorted(range(len(got["ids"])), key=lambda i: got["ids"][i])
            dim = len(got["embeddings"][0]) if len(got["ids"]) else 0
            entry = {
                "count": col.count(),
                "ids": [got["ids"][i] for i in order],
                "documents_sha256": digest([got["documents"][i] for i in order]),
                "metadatas_sha256": digest([got["metadatas"][i] for i in order]),
                "embeddings_sha256": digest(
                    [[round(float(x), 5) for x in got["embeddings"][i]] for i in order]
                ),
            }
            if dim in QUERY:
                q = col.query(query_embeddings=[QUERY[dim]], n_results=5, include=["distances"])
                entry["query_ids"] = q["ids"][0]
                entry["query_distances"] = [round(float(d), 4) for d in q["distances"][0]]
            result[name] = entry
    with open(out, "w") as f:
        json.dump({"chromadb": chromadb.__version__, "collections": result}, f, indent=1, sort_keys=True)


def write(path, seconds, lock):
    rng = random.Random(os.getpid())
    client = chromadb.PersistentClient(path=path)
    col = client.get_collection("papers", embedding_function=None)
    end = time.time() + seconds
    i = 100000
    print("writing", flush=True)
    while time.time() < end:
        fd = None
        if lock != "-":
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            ids = [f"w{j}" for j in range(i, i + 50)]
            col.add(ids=ids, embeddings=vectors(rng, 50, 16), documents=ids)
        finally:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
        i += 50
        time.sleep(0.01)
    print("wrote", i - 100000, flush=True)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "make":
        make(sys.argv[2])
    elif cmd == "make-small":
        make_small(sys.argv[2])
    elif cmd == "make-spaces":
        make_spaces(sys.argv[2])
    elif cmd == "mutate":
        mutate(sys.argv[2])
    elif cmd == "describe":
        describe(sys.argv[2], sys.argv[3])
    elif cmd == "write":
        write(sys.argv[2], float(sys.argv[3]), sys.argv[4])
    else:
        sys.exit(f"unknown command {cmd}")
