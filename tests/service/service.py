"""A small stand-in for the service whose store is restored: it holds its database open while
it runs and says it is healthy through a file, as the real one does through its endpoint.

    python3 service.py DB STATE_DIR

At start it writes STATE_DIR/pid, opens DB and keeps it open, and writes the number of rows
in `memories` to STATE_DIR/health (its health answer). On SIGTERM it removes the health file,
closes the database and exits 0. Only the standard library is used.
"""
import os
import signal
import sqlite3
import sys
import time

db, state = sys.argv[1], sys.argv[2]
stop = False


def on_term(signum, frame):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
with open(os.path.join(state, "pid.tmp"), "w") as f:
    f.write(str(os.getpid()))
os.replace(os.path.join(state, "pid.tmp"), os.path.join(state, "pid"))
conn = sqlite3.connect(db)
count = conn.execute("SELECT count(*) FROM memories").fetchone()[0]
with open(os.path.join(state, "health.tmp"), "w") as f:
    f.write(str(count))
os.replace(os.path.join(state, "health.tmp"), os.path.join(state, "health"))
while not stop:
    time.sleep(0.05)
os.remove(os.path.join(state, "health"))
conn.close()
