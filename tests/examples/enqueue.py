"""Enqueue Awa jobs from Python through the public SQL contract awa.insert_job v1.

Needs psycopg 3 (Debian: apt-get install python3-psycopg). Run:
    /usr/bin/python3 tests/examples/enqueue.py "$DATABASE_URL"
Prints one JSON line describing what was inserted.
"""
import json
import sys

import psycopg
from psycopg.types.json import Jsonb

INSERT = """
SELECT id, state, enqueue_shard, encode(unique_key, 'hex') AS unique_key
FROM awa.insert_job(
  p_kind => %(kind)s,
  p_args => %(args)s,
  p_queue => %(queue)s,
  p_priority => %(priority)s::smallint,
  p_max_attempts => %(max_attempts)s::smallint,
  p_run_at => %(run_at)s,
  p_metadata => %(metadata)s,
  p_tags => %(tags)s::text[],
  p_unique_key => %(unique_key)s,
  p_unique_states => %(unique_states)s::bit(8),
  p_ordering_key => %(ordering_key)s,
  p_opts => %(opts)s
)
"""


def ordering_key_hash64(key: bytes) -> int:
    """Algorithm H: multiply by the FNV prime, then ADD each byte, mod 2^64."""
    h = 14695981039346656037
    for b in key:
        h = (h * 1099511628211 + b) % (1 << 64)
    return h


def insert_job(conn, kind, args, queue="default", priority=2, max_attempts=25, run_at=None,
               metadata=None, tags=(), unique_key=None, unique_states=None, ordering_key=None,
               on_conflict="error"):
    """Insert one job; returns the inserted row as a dict, or None when a duplicate was skipped."""
    params = {
        "kind": kind,
        "args": Jsonb(args),
        "queue": queue,
        "priority": priority,
        "max_attempts": max_attempts,
        "run_at": run_at,
        "metadata": Jsonb(metadata or {}),
        "tags": list(tags),
        "unique_key": unique_key,
        "unique_states": unique_states,
        "ordering_key": ordering_key,
        "opts": Jsonb({"on_conflict": on_conflict}),
    }
    row = conn.execute(INSERT, params).fetchone()
    if row is None:
        return None
    return {"id": row[0], "state": row[1], "enqueue_shard": row[2], "unique_key": row[3]}


def main(url: str) -> None:
    out = {}
    # One transaction: the jobs exist only if it commits.
    with psycopg.connect(url) as conn:
        out["plain"] = insert_job(conn, "send_email", {"to": "python@example.com"}, queue="email")
        # Unique key from vector U2 (Algorithm U needs BLAKE3, e.g. the `blake3` package).
        u2 = bytes.fromhex("93c3005f70fde2c5aa06779be3818fd1")
        out["unique"] = insert_job(conn, "send_email",
                                   {"to": "alice@example.com", "subject": "Welcome"},
                                   queue="email", unique_key=u2, unique_states="11111000")
        out["duplicate"] = insert_job(conn, "send_email",
                                      {"to": "alice@example.com", "subject": "Welcome"},
                                      queue="email", unique_key=u2, on_conflict="skip")
        key = "customer-42".encode("utf-8")
        out["keyed"] = insert_job(conn, "sync_customer", {"customer": 42},
                                  queue="customer-updates", priority=1, ordering_key=key)
        out["expected_shard"] = ordering_key_hash64(key) % 4
        try:
            with conn.transaction():  # a savepoint, so the outer transaction survives
                insert_job(conn, "send_email", {}, queue="email", priority=9)
        except psycopg.errors.CheckViolation as e:  # SQLSTATE 23514
            out["invalid_priority"] = {"sqlstate": e.sqlstate, "message": str(e).splitlines()[0]}
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
