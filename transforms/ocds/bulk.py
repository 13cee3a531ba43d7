"""Compile files of any size in bounded memory on every core: partition by ocid on disk, compile each part, merge.

``ocdskit compile`` keeps every release in SQLite and merges on one core. This path makes three passes:

1. **Partition.** Plain JSON Lines files are cut into byte ranges (:mod:`transforms.ranges`); gzip files and whole
   JSON documents are read whole. Each of these tasks reads the ocid of every release, without parsing the release
   when that is unambiguous, and appends ``ocid TAB release`` lines to one of B bucket files chosen by a hash of the
   ocid. B grows with the input, so that one bucket's text fits in a worker's memory.
2. **Compile.** Each bucket is read back in input order (its files in task order), grouped by ocid, and each ocid's
   releases are parsed, merged (:mod:`transforms.ocds.fastmerge`) and serialised, in ocid order.
3. **Merge.** The buckets' sorted outputs are merged into the output in ocid order, the order of ``ocdskit``
   (SQLite compares the UTF-8 bytes, which order as Python compares code points).

Passes 1 and 2 run on every core and read and write files, not pipes: the parent process only hands out small task
descriptions and does pass 3, whose cost follows the number of ocids, not of releases. Peak memory is set by the
bucket size and the buffers below, not by the input.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import logging
import math
import multiprocessing
import os
import re
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from transforms import jsonio, ranges
from transforms.errors import SemaforoError
from transforms.ocds import fastmerge

log = logging.getLogger(__name__)

BUCKET_BYTES = 16 << 20  # input bytes per bucket: a worker holds one bucket's release texts in memory
BUCKETS_PER_WORKER = 4  # at least: the last bucket holds up one worker for at most a quarter of its share
MAX_BUCKETS = 512  # pass 3 keeps every bucket's output open; past this, buckets grow instead
RANGES_PER_WORKER = 4  # byte ranges per worker and plain JSON Lines file in pass 1
PARTITION_BUFFER = 8 << 20  # bytes a partitioning task buffers before appending to its bucket files
WRITE_BUFFER = 1 << 20  # bytes of output gathered per write
MERGE_READ_BUFFER = 64 << 10  # bytes read ahead per bucket in pass 3, which reads every bucket at once
GZIP_RATIO = 10  # gzip input counts as this many times its size when sizing buckets (JSON compresses about 10×)

_rules: fastmerge.MergeRules | None = None
_versioned = False


# -- pass 1: partition ----------------------------------------------------------------------------------------
_KEY = b'"ocid"'
# After the key: a colon and a string without escapes; a tab would end the key of a spill line early (it is invalid
# in a JSON string anyway, and parsing the release says so).
_VALUE = re.compile(rb'[ \t\r\n]*:[ \t\r\n]*("[^"\\\t]*")')


def _fast_ocid(line: bytes) -> bytes | None:
    """Return a release's ocid as a JSON string literal, read from its text when unambiguous, else None.

    Unambiguous: ``"ocid"`` occurs once, not escaped (a quote inside a JSON string is always escaped, so it cannot
    come from text), followed by ``:`` and a string without escapes. Such a literal is exactly what ``orjson.dumps``
    makes of the parsed ocid, so both ways give one key per ocid.
    """
    if line.count(_KEY) != 1 or b'"releases"' in line:
        return None
    at = line.find(_KEY)
    if at > 0 and line[at - 1] == 0x5C:  # a backslash: the key is inside a string
        return None
    match = _VALUE.match(line, at + len(_KEY))
    return match.group(1) if match else None


_FIRST = b'{"ocid":"'


def _first_key_ocid(line: bytes) -> bytes | None:
    """Return the ocid literal of a release whose text begins with ``{"ocid":"``, without reading further.

    The first key of the top-level object is the release's own ocid, unless the object repeats the key (the last
    one counts). Scanning every line for a second one costs more than the rest of pass 1, so pass 2 checks each
    parsed release against its key instead, and :func:`compile_files` starts again the careful way if one differs.
    """
    if not line.startswith(_FIRST):
        return None
    end = line.find(b'"', len(_FIRST))
    literal = line[len(_FIRST) - 1 : end + 1]
    if end < 0 or b"\\" in literal or b"\t" in literal:
        return None
    return literal


def release_items(lines: Iterable[bytes], *, first_key: bool = False) -> Iterator[tuple[bytes, bytes]]:
    """Yield ``(ocid as a JSON string literal, release JSON)`` per line: a release, or each release of a package.

    A release read from its text keeps its line end.

    With ``first_key``, a leading ``"ocid"`` key is trusted without looking for a repeat (see :func:`_first_key_ocid`).
    """
    for line in lines:
        key = _first_key_ocid(line) if first_key else None
        if key is None:
            key = _fast_ocid(line)
        if key is not None:
            yield key, line
            continue
        if not line.strip():
            continue
        document = orjson.loads(line)
        if isinstance(document, dict) and isinstance(document.get("releases"), list) and "ocid" not in document:
            for release in document["releases"]:
                if release is not None:
                    yield _ocid(release), orjson.dumps(release)
        else:
            yield _ocid(document), orjson.dumps(document)


def _ocid(release: Any) -> bytes:
    ocid = release.get("ocid") if isinstance(release, dict) else None
    if not isinstance(ocid, str):
        raise ValueError(f"a release has no string ocid: {orjson.dumps(release)[:200]!r}")
    return orjson.dumps(ocid)


@dataclass(frozen=True)
class _Source:
    """What one partitioning task reads: a byte range of a plain JSON Lines file, or a whole file (``start`` None)."""

    path: Path
    start: int | None = None
    end: int = 0

    def lines(self) -> Iterator[bytes]:
        """Yield the source's JSON lines; a whole JSON document (``.json``) is read and yielded as one line."""
        if self.start is not None:
            yield from ranges.read_lines(self.path, self.start, self.end)
        elif self.path.name.removesuffix(".gz").endswith(".json"):
            with jsonio.open_read(self.path) as fh:
                yield jsonio.dumps(jsonio.loads(fh.read()))  # on one line: a pretty-printed package spans many
        else:
            with jsonio.open_read(self.path) as fh:
                yield from fh


def _spill_name(bucket: int, task: int) -> str:
    return f"{bucket}-{task}"


def _partition_items(items: Iterable[tuple[bytes, bytes]], folder: Path, task: int, buckets: int) -> int:
    """Append ``key TAB release`` lines to the bucket files of one task; return the number of releases."""
    pending: list[list[bytes]] = [[] for _ in range(buckets)]
    buffered = count = 0
    for key, body in items:
        # The pieces are joined once per flush: copying each release into a record of its own costs more.
        if body.endswith(b"\n"):
            pending[zlib.crc32(key) % buckets] += (key, b"\t", body)
        else:
            pending[zlib.crc32(key) % buckets] += (key, b"\t", body, b"\n")
        buffered += len(body)
        count += 1
        if buffered >= PARTITION_BUFFER:
            _flush(pending, folder, task)
            buffered = 0
    _flush(pending, folder, task)
    return count


def _flush(pending: list[list[bytes]], folder: Path, task: int) -> None:
    for bucket, records in enumerate(pending):
        if records:
            with open(folder / _spill_name(bucket, task), "ab") as fh:
                fh.write(b"".join(records))
            records.clear()


def _partition(job: tuple[_Source, Path, int, int, bool]) -> int:
    """Partition one source (in a worker process); return the number of releases."""
    source, folder, task, buckets, first_key = job
    return _partition_items(release_items(source.lines(), first_key=first_key), folder, task, buckets)


class _Misread(ValueError):
    """A parsed release's ocid is not the key it was filed under: it has no top-level ocid, or repeats the key."""


# -- pass 2: compile each bucket ------------------------------------------------------------------------------
def _init_worker(rules: fastmerge.MergeRules, versioned: bool) -> None:
    global _rules, _versioned
    _rules = rules
    _versioned = versioned


def _compile_bucket(job: tuple[Path, int, int]) -> tuple[int, int]:
    """Compile one bucket into ``out-BUCKET`` (``key TAB compiled release`` lines, in ocid order); return counts."""
    folder, bucket, tasks = job
    assert _rules is not None
    groups: dict[bytes, list[bytes]] = {}
    releases = 0
    for task in range(tasks):
        path = folder / _spill_name(bucket, task)
        if not path.exists():  # this task had no release for this bucket
            continue
        with open(path, "rb") as fh:
            for record in fh:
                key, _, body = record.partition(b"\t")
                group = groups.get(key)
                if group is None:
                    groups[key] = [body]
                else:
                    group.append(body)
                releases += 1
        path.unlink()
    build = fastmerge.versioned_release if _versioned else fastmerge.compile_release
    rules = _rules
    ocids = len(groups)
    try:
        order = sorted((orjson.loads(key), key) for key in groups)
    except orjson.JSONDecodeError as exc:  # a raw control character in an ocid read from the text
        raise ValueError(f"a release's ocid is not a JSON string: {exc}") from None
    with open(folder / f"out-{bucket}", "wb", buffering=WRITE_BUFFER) as out:
        for ocid, key in order:
            try:
                parsed = [orjson.loads(body) for body in groups.pop(key)]
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"a release of ocid {ocid!r} is not JSON: {exc}") from None
            for release in parsed:
                # The key may have been read from the text: make sure it is the release's own, top-level ocid.
                if type(release) is not dict or release.get("ocid") != ocid:
                    raise _Misread(
                        f"a release has no string ocid at its top level, or more than one: "
                        f"{orjson.dumps(release)[:200]!r}"
                    )
            out.write(b"%s\t%s\n" % (key, orjson.dumps(build(parsed, rules))))
    return releases, ocids


# -- pass 3: merge the sorted buckets -------------------------------------------------------------------------
def _sorted_bucket(path: Path) -> Iterator[tuple[str, bytes]]:
    with open(path, "rb", buffering=MERGE_READ_BUFFER) as fh:
        for record in fh:
            key, _, body = record.partition(b"\t")
            yield orjson.loads(key), body


def _merge_buckets(folder: Path, buckets: int, out: IO[bytes]) -> int:
    """Write every bucket's compiled releases to ``out`` in ocid order; return how many."""
    written = size = 0
    chunk: list[bytes] = []
    # An ocid is in one bucket only, so no two items compare equal and heapq never compares the bodies.
    for _, body in heapq.merge(*(_sorted_bucket(folder / f"out-{bucket}") for bucket in range(buckets))):
        chunk.append(body)
        size += len(body)
        written += 1
        if size >= WRITE_BUFFER:
            out.write(b"".join(chunk))
            chunk.clear()
            size = 0
    out.write(b"".join(chunk))
    return written


# -- the whole -------------------------------------------------------------------------------------------------
def _bucket_count(estimated_bytes: int, workers: int) -> int:
    return min(MAX_BUCKETS, max(BUCKETS_PER_WORKER * workers, math.ceil(estimated_bytes / BUCKET_BYTES)))


def _sources(paths: Iterable[Path], workers: int) -> tuple[list[_Source], int]:
    """Cut the inputs into partitioning tasks, in input order; return them and the estimated input bytes."""
    sources: list[_Source] = []
    estimated = 0
    for path in paths:
        if not path.is_file():
            raise SemaforoError(f"{path}: no such file")
        size = path.stat().st_size
        if path.name.endswith(".gz"):
            sources.append(_Source(path))
            estimated += size * GZIP_RATIO
        elif path.name.endswith(".json"):
            sources.append(_Source(path))
            estimated += size
        else:
            sources.extend(
                _Source(path, start, end) for start, end in ranges.byte_ranges(size, RANGES_PER_WORKER * workers)
            )
            estimated += size
    return sources, estimated


def compile_files(
    paths: Iterable[Path],
    schema: dict[str, Any],
    out: IO[bytes],
    *,
    versioned: bool = False,
    workers: int | None = None,
    spill_dir: Path | None = None,
) -> dict[str, int]:
    """Compile release files (.jsonl, .json packages, .gz) to ``out``, one JSON per line, ordered by ocid.

    Return the counts of releases read and compiled releases written.
    """
    workers = workers or os.cpu_count() or 1
    sources, estimated = _sources(paths, workers)
    buckets = _bucket_count(estimated, workers)
    run = functools.partial(
        _compile, sources, None, buckets, schema, out, versioned=versioned, workers=workers, spill_dir=spill_dir
    )
    try:
        return run(first_key=True)
    except _Misread:  # nothing is written before every bucket has compiled, so starting again is safe
        log.warning("a release repeats its ocid key, or has none at its top level: reading every release again")
    return run(first_key=False)


def compile_to(
    items: Iterable[tuple[bytes, bytes]],
    schema: dict[str, Any],
    out: IO[bytes],
    *,
    versioned: bool = False,
    workers: int | None = None,
    spill_dir: Path | None = None,
    estimated_bytes: int = 0,
) -> dict[str, int]:
    """Compile ``(ocid key, release JSON)`` items (see :func:`release_items`) to ``out``, ordered by ocid.

    The items are partitioned in this process; ``estimated_bytes`` (their total size, if known) sizes the buckets.
    """
    workers = workers or os.cpu_count() or 1
    buckets = _bucket_count(estimated_bytes, workers)
    return _compile(
        [], items, buckets, schema, out, first_key=False, versioned=versioned, workers=workers, spill_dir=spill_dir
    )


@contextlib.contextmanager
def _mapper(workers: int, rules: fastmerge.MergeRules, versioned: bool) -> Iterator[Callable[..., Iterator[Any]]]:
    """Yield a map function: unordered over forked worker processes, or in this process for one worker."""
    if workers <= 1:
        _init_worker(rules, versioned)
        yield map
        return
    # Leaving the block terminates the workers: at once when a task failed, idle ones otherwise.
    with multiprocessing.get_context("fork").Pool(workers, _init_worker, (rules, versioned)) as pool:
        yield pool.imap_unordered


def _compile(
    sources: list[_Source],
    items: Iterable[tuple[bytes, bytes]] | None,
    buckets: int,
    schema: dict[str, Any],
    out: IO[bytes],
    *,
    first_key: bool,
    versioned: bool,
    workers: int,
    spill_dir: Path | None,
) -> dict[str, int]:
    rules = fastmerge.merge_rules(schema)
    with tempfile.TemporaryDirectory(prefix="semaforo-compile-", dir=spill_dir) as tmp:
        folder = Path(tmp)
        with _mapper(workers, rules, versioned) as mapper:
            if items is not None:
                tasks = 1
                releases = _partition_items(items, folder, 0, buckets)
            else:
                tasks = len(sources)
                jobs = [(source, folder, task, buckets, first_key) for task, source in enumerate(sources)]
                releases = sum(mapper(_partition, jobs))
            log.info("partitioned %d release(s) into %d bucket(s) in %d task(s)", releases, buckets, tasks)
            compiled = list(mapper(_compile_bucket, [(folder, bucket, tasks) for bucket in range(buckets)]))
        if sum(read for read, _ in compiled) != releases:
            raise RuntimeError(f"{releases} release(s) partitioned but {sum(r for r, _ in compiled)} compiled")
        ocids = sum(count for _, count in compiled)
        log.info("compiled %d release(s) into %d compiled release(s); merging %d bucket(s)", releases, ocids, buckets)
        written = _merge_buckets(folder, buckets, out)
        if written != ocids:
            raise RuntimeError(f"{ocids} compiled release(s) made but {written} written")
    return {"releases": releases, "ocids": written}
