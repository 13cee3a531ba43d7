"""Fast JSON and JSON Lines I/O (orjson), plain or gzip, with atomic writes."""

from __future__ import annotations

import contextlib
import ctypes
import gzip
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, cast

import orjson

GZIP_LEVEL = 6


def dumps(obj: Any) -> bytes:
    """Serialize to compact UTF-8 JSON bytes (key order kept)."""
    return orjson.dumps(obj)


def loads(data: bytes | str) -> Any:
    """Parse JSON bytes or text."""
    return orjson.loads(data)


def open_read(path: Path) -> IO[bytes]:
    """Open a plain or gzip file for binary reading."""
    if str(path).endswith(".gz"):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return open(path, "rb")


def read_jsonl(path: Path) -> Iterator[Any]:
    """Yield one parsed value per non-blank line."""
    with open_read(path) as fh:
        for line in fh:
            if line.strip():
                yield orjson.loads(line)


def read_json(path: Path) -> Any:
    """Parse a whole JSON file (plain or gzip)."""
    with open_read(path) as fh:
        return orjson.loads(fh.read())


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path`` (a file or a folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent)) / path.name
    try:
        yield tmp
        if path.is_dir() and not path.is_symlink():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp.parent, ignore_errors=True)


def _gzip_writer(fh: IO[bytes]) -> IO[bytes]:
    # mtime=0 and no file name in the header: the same content gives the same bytes on every re-run.
    return gzip.GzipFile(filename="", mode="wb", fileobj=fh, compresslevel=GZIP_LEVEL, mtime=0)  # type: ignore[return-value]


def write_jsonl(path: Path, rows: Iterable[Any]) -> int:
    """Atomically write one JSON value per line (gzip when the name ends in ``.gz``); return the count."""
    count = 0
    with atomic_path(path) as tmp, open(tmp, "wb") as raw:
        fh = _gzip_writer(raw) if path.name.endswith(".gz") else raw
        for row in rows:
            fh.write(orjson.dumps(row))
            fh.write(b"\n")
            count += 1
        if fh is not raw:
            fh.close()
    return count


def write_json(path: Path, obj: Any, *, indent: bool = True) -> None:
    """Atomically write a JSON document (pretty-printed by default)."""
    option = orjson.OPT_INDENT_2 if indent else 0
    with atomic_path(path) as tmp:
        tmp.write_bytes(orjson.dumps(obj, option=option) + b"\n")


def write_bytes(path: Path, data: bytes) -> None:
    """Atomically write bytes."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


_RENAME_EXCHANGE = 2  # renameat2(2) flag: swap two paths atomically (Linux ≥ 3.15, glibc ≥ 2.28)
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two existing paths; False when the platform cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result != 0:
        errno = ctypes.get_errno()
        if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: the filesystem or kernel cannot exchange
            return False
        raise OSError(errno, os.strerror(errno), str(a))
    return True


def swap_dir(staging: Path, final: Path) -> None:
    """Replace the folder ``final`` with ``staging`` so that a reader sees the old or the new one, never neither.

    Linux exchanges the two in one ``renameat2`` call; elsewhere the old folder is renamed away first, which
    leaves a moment without ``final``.
    """
    if not final.exists():
        os.replace(staging, final)
        return
    if _exchange(staging, final):
        shutil.rmtree(staging)  # now holds the old content
        return
    old = final.with_name(f".old-{final.name}-{os.getpid()}")
    os.replace(final, old)
    os.replace(staging, final)
    shutil.rmtree(old)
