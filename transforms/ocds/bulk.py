"""Compile files of any size in bounded memory on every core: spill, sort by ocid on disk, merge in parallel.

``ocdskit compile`` keeps every release in SQLite and merges on one core; ocdsmerge in Python merges ~20,000
releases a second here. This path (1) streams the input once, spilling ``(ocid, ordinal, release JSON)`` into a
temporary on-disk DuckDB table; (2) reads it back ordered by ``(ocid, ordinal)`` — DuckDB sorts out of core — so
each ocid's releases arrive together in input order; (3) hands chunks of whole ocids to worker processes that
parse, merge (:mod:`transforms.ocds.fastmerge`) and serialise; (4) writes the chunks back in order. Peak memory is
set by the chunk size and DuckDB's memory limit, not by the input.
"""

from __future__ import annotations

import array
import collections
import itertools
import multiprocessing
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import duckdb
import orjson
import pyarrow as pa

from transforms.ocds import fastmerge

SPILL_BATCH = 20_000  # releases per Arrow batch spilled to DuckDB
CHUNK_RELEASES = 4_000  # releases per unit of work sent to a worker
DUCKDB_MEMORY = "256MB"  # the sort spills to disk past this

_rules: fastmerge.MergeRules | None = None
_versioned = False


def _init_worker(schema: dict[str, Any], versioned: bool) -> None:
    global _rules, _versioned
    _rules = fastmerge.merge_rules(schema)
    _versioned = versioned


def _work(groups: list[list[bytes]]) -> bytes:
    """Merge whole ocids (each a list of release JSON texts); return their serialised results, one per line."""
    assert _rules is not None
    build = fastmerge.versioned_release if _versioned else fastmerge.compile_release
    return b"".join(orjson.dumps(build([orjson.loads(text) for text in group], _rules)) + b"\n" for group in groups)


_KEY = b'"ocid"'


def _fast_ocid(line: bytes) -> str | None:
    """Read a release's ocid from its JSON text when that is unambiguous, else None (then the line is parsed).

    Unambiguous: ``"ocid"`` occurs once, not escaped (a quote inside a JSON string is always escaped, so it cannot
    come from text), followed by ``:`` and a string without escapes.
    """
    if line.count(_KEY) != 1 or b'"releases"' in line:
        return None
    at = line.find(_KEY)
    if at > 0 and line[at - 1] == 0x5C:  # a backslash: the key is inside a string
        return None
    rest = line[at + len(_KEY) :].lstrip()
    if not rest.startswith(b":"):
        return None
    rest = rest[1:].lstrip()
    if not rest.startswith(b'"'):
        return None
    end = rest.find(b'"', 1)
    value = rest[1:end]
    if end < 0 or b"\\" in value:
        return None
    return value.decode()


def release_items(lines: Iterable[bytes]) -> Iterator[tuple[str, bytes]]:
    """Yield ``(ocid, JSON)`` per JSON line: a release, or each release of a release package on the line."""
    for line in lines:
        if not line.strip():
            continue
        ocid = _fast_ocid(line)
        if ocid is not None:
            yield ocid, line.rstrip(b"\r\n")
            continue
        document = orjson.loads(line)
        if isinstance(document, dict) and isinstance(document.get("releases"), list) and "ocid" not in document:
            for release in document["releases"]:
                if release is not None:
                    yield _ocid(release), orjson.dumps(release)
        else:
            yield _ocid(document), orjson.dumps(document)


def _ocid(release: Any) -> str:
    ocid = release.get("ocid") if isinstance(release, dict) else None
    if not isinstance(ocid, str):
        raise ValueError(f"a release has no string ocid: {orjson.dumps(release)[:200]!r}")
    return ocid


def _varlen(kind: pa.DataType, values: list[bytes]) -> pa.Array:
    """Build a (large) string or binary array straight from buffers.

    ``pa.array`` on Python objects imports pandas on first use (about a second); this path does not.
    """
    offsets = array.array("q", [0])
    offsets.extend(itertools.accumulate(len(value) for value in values))
    return pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(values))])


def _spill(con: duckdb.DuckDBPyConnection, items: Iterable[tuple[str, bytes]]) -> int:
    con.execute("CREATE TEMP TABLE spill (ocid VARCHAR, seq BIGINT, body BLOB)")
    count = 0
    ocids: list[str] = []
    bodies: list[bytes] = []

    def flush() -> None:
        if not ocids:
            return
        seq = array.array("q", range(count - len(ocids), count))
        batch = pa.table(
            {
                "ocid": _varlen(pa.large_string(), [ocid.encode() for ocid in ocids]),
                "seq": pa.Array.from_buffers(pa.int64(), len(seq), [None, pa.py_buffer(seq)]),
                "body": _varlen(pa.large_binary(), bodies),
            }
        )
        con.register("spill_batch", batch)
        con.execute("INSERT INTO spill SELECT * FROM spill_batch")
        con.unregister("spill_batch")
        ocids.clear()
        bodies.clear()

    for ocid, body in items:
        ocids.append(ocid)
        bodies.append(body)
        count += 1
        if len(ocids) >= SPILL_BATCH:
            flush()
    flush()
    return count


def _groups(con: duckdb.DuckDBPyConnection) -> Iterator[list[list[bytes]]]:
    """Yield chunks of whole ocid groups, in ocid order."""
    reader = con.sql("SELECT ocid, body FROM spill ORDER BY ocid, seq").to_arrow_reader(SPILL_BATCH)
    chunk: list[list[bytes]] = []
    size = 0
    current: str | None = None
    group: list[bytes] = []
    for batch in reader:
        for ocid, body in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True):
            if ocid != current:
                if group:
                    chunk.append(group)
                    size += len(group)
                    if size >= CHUNK_RELEASES:
                        yield chunk
                        chunk, size = [], 0
                current, group = ocid, []
            group.append(body)
    if group:
        chunk.append(group)
    if chunk:
        yield chunk


def compile_to(
    items: Iterable[tuple[str, bytes]],
    schema: dict[str, Any],
    out: IO[bytes],
    *,
    versioned: bool = False,
    workers: int | None = None,
    spill_dir: Path | None = None,
) -> dict[str, int]:
    """Compile ``(ocid, release JSON)`` items to ``out`` (one JSON per line, ordered by ocid); return counts."""
    workers = workers or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="semaforo-compile-", dir=spill_dir) as tmp:
        con = duckdb.connect()  # in memory, spilling to temp_directory past memory_limit
        con.execute("SET memory_limit = ?", [DUCKDB_MEMORY])
        con.execute("SET temp_directory = ?", [str(Path(tmp) / "sort")])
        count = _spill(con, items)
        written = 0
        if workers <= 1:
            _init_worker(schema, versioned)
            for chunk in _groups(con):
                out.write(_work(chunk))
                written += len(chunk)
        else:
            context = multiprocessing.get_context("fork")
            with context.Pool(workers, initializer=_init_worker, initargs=(schema, versioned)) as pool:
                # Pool.imap would read the whole input ahead; keep a few chunks in flight so memory stays flat.
                pending: collections.deque[Any] = collections.deque()
                for chunk in _groups(con):
                    pending.append(pool.apply_async(_work, (chunk,)))
                    written += len(chunk)
                    if len(pending) >= 2 * workers:
                        out.write(pending.popleft().get())
                while pending:
                    out.write(pending.popleft().get())
        con.close()
    return {"releases": count, "ocids": written}
