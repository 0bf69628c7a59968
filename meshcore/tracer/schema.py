"""The span store's SQLite schema (DDL) and how its connections are opened.

One writer connection (WAL, synchronous=NORMAL: a committed transaction survives the process being
killed, though not a power cut) and any number of read-only ones. Units: ts/duration in µs.
"""

from __future__ import annotations

import sqlite3

WRITER_CACHE_MIB = 64
READER_CACHE_MIB = 8

SCHEMA = """
CREATE TABLE IF NOT EXISTS spans (
    trace_id TEXT NOT NULL,
    id TEXT NOT NULL,
    parent_id TEXT,
    kind TEXT,
    name TEXT,
    service TEXT,
    remote_service TEXT,
    ts INTEGER NOT NULL,          -- µs; ingest time when the span had no timestamp
    duration INTEGER,
    shared INTEGER NOT NULL,
    error INTEGER NOT NULL,
    json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS spans_by_trace ON spans (trace_id, id);
CREATE INDEX IF NOT EXISTS spans_by_service_ts ON spans (service, ts);
CREATE TABLE IF NOT EXISTS traces (
    trace_id TEXT PRIMARY KEY,
    ts INTEGER NOT NULL,          -- µs, earliest span start
    end_ts INTEGER NOT NULL,      -- µs, latest span end
    span_count INTEGER NOT NULL,
    error INTEGER NOT NULL,
    root_rank INTEGER NOT NULL,   -- 0 parentless non-shared span seen, 1 parentless shared, 2 none
    root_service TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS traces_by_ts ON traces (ts);
CREATE TABLE IF NOT EXISTS terms (
    service TEXT NOT NULL,
    term TEXT NOT NULL,           -- "key=value" for a tag, "value" for an annotation
    ts INTEGER NOT NULL,
    trace_id TEXT NOT NULL,
    PRIMARY KEY (service, term, ts, trace_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS term_pairs (service TEXT NOT NULL, term TEXT NOT NULL, PRIMARY KEY (service, term)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS span_names (service TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (service, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS remote_names (service TEXT NOT NULL, remote TEXT NOT NULL, PRIMARY KEY (service, remote)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS autocomplete (key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (key, value)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS links (
    bucket INTEGER NOT NULL,      -- callee span start // LINK_BUCKET_US
    parent TEXT NOT NULL,
    child TEXT NOT NULL,
    calls INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    PRIMARY KEY (bucket, parent, child)
) WITHOUT ROWID;
"""


def connect(path: str, *, readonly: bool, cache_mib: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    # Page cache per connection (the writer's holds the hot index pages that random trace ids touch);
    # no mmap, since mapped pages count in RSS.
    conn.execute(f"PRAGMA cache_size=-{cache_mib * 1024}")
    conn.execute("PRAGMA temp_store=MEMORY")
    if readonly:
        conn.execute("PRAGMA query_only=1")
    return conn
