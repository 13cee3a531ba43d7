"""The CompraNet-like stage API served by the simulator: one endpoint per stage, filtered and paged.

``GET /api/v1/{stage}?updated_since=…&updated_until=…&cursor=…&limit=N`` returns
``{"data": [...], "pagination": {"total", "limit", "next_cursor"}, "links": {"next"}}``: records whose
``actualizado`` instant falls in ``[updated_since, updated_until)``, ordered by (instant, id), with a keyset cursor.
``page`` (1-based) and ``pageSize`` are accepted too, for compatibility with the federal API's paging.

Fault switches (:class:`Faults`) make the server flaky on purpose, for the ingest tests: latency, a rate of 5xx,
truncated bodies, 429 with ``Retry-After``, and a page that disappears once and comes back.
"""

from __future__ import annotations

import array
import base64
import bisect
import itertools
import random
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow.parquet as pq

from transforms.sources.simulator import STAGES, Universe
from transforms.sources.universe_files import StoredUniverse, epoch

API_PREFIX = "/api/v1"
MAX_LIMIT = 5000


@dataclass
class Faults:
    """Fault switches; rates are probabilities per request."""

    latency: float = 0.0  # seconds added to every response
    error_rate: float = 0.0  # 500/502/503 answers
    truncate_rate: float = 0.0  # a 200 whose body is cut short
    throttle_rate: float = 0.0  # 429 with Retry-After
    retry_after: float = 0.05  # seconds announced in Retry-After
    vanish_once: bool = False  # the second page of each stage answers 404 once, then comes back
    seed: int = 0


def _encode_cursor(key: tuple[float, str]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[float, str]:
    padded = cursor + "=" * (-len(cursor) % 4)
    epoch, record_id = orjson.loads(base64.urlsafe_b64decode(padded))
    return float(epoch), str(record_id)


class StageIndex:
    """Records of each stage in memory, sorted by (instant, id), for window filtering and keyset paging."""

    def __init__(self, universe: Universe) -> None:
        self.keys: dict[str, list[tuple[float, str]]] = {}
        # Each stage's JSON in one buffer, sliced per page: kept one by one, millions of small orjson results
        # would cost several times their size (the allocator cannot reuse the space they shrank from).
        self.buffers: dict[str, bytes] = {}
        self.offsets: dict[str, array.array[int]] = {}
        for stage in STAGES:
            rows = universe.records[stage]
            keys = [(epoch(row["actualizado"]), row["id"]) for row in rows]
            order = sorted(range(len(rows)), key=keys.__getitem__)
            self.keys[stage] = [keys[i] for i in order]
            buffer, offsets = bytearray(), array.array("q", [0])
            for i in order:
                buffer += orjson.dumps(rows[i])
                offsets.append(len(buffer))
            self.buffers[stage], self.offsets[stage] = bytes(buffer), offsets

    def window(self, stage: str, since: float, until: float) -> tuple[int, int]:
        """Return the position range of records with ``since <= instant < until``."""
        keys = self.keys[stage]
        return bisect.bisect_left(keys, (since, "")), bisect.bisect_left(keys, (until, ""))

    def after(self, stage: str, key: tuple[float, str]) -> int:
        """Return the position of the first record whose (instant, id) comes after ``key``."""
        return bisect.bisect_right(self.keys[stage], key)

    def key(self, stage: str, position: int) -> tuple[float, str]:
        """Return the (instant, id) of the record at ``position``."""
        return self.keys[stage][position]

    def records(self, stage: str, start: int, end: int) -> list[bytes]:
        """Return the JSON bytes of the records at positions ``[start, end)``."""
        buffer, offsets = self.buffers[stage], self.offsets[stage]
        return [buffer[offsets[i] : offsets[i + 1]] for i in range(start, end)]


class StoredStageIndex:
    """Records of each stage read from a universe folder's sorted files: only the instants stay in memory.

    A page reads the few row groups that hold its positions, found from the row counts in the file footer; a
    cursor is resolved by a binary search on the instants and a look at the ids that share the cursor's instant.
    """

    def __init__(self, universe: StoredUniverse) -> None:
        self.paths: dict[str, str] = {}
        self.metadata: dict[str, pq.FileMetaData] = {}
        self.starts: dict[str, list[int]] = {}  # the position of each row group's first row, then the total
        self.instants: dict[str, npt.NDArray[np.float64]] = {}  # 8 bytes a record
        for stage in STAGES:
            path = str(universe.stage_path(stage))
            metadata = pq.read_metadata(path)
            self.paths[stage], self.metadata[stage] = path, metadata
            self.starts[stage] = [
                0,
                *itertools.accumulate(metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)),
            ]
            self.instants[stage] = pq.read_table(path, columns=["instant"]).column("instant").to_numpy()

    def window(self, stage: str, since: float, until: float) -> tuple[int, int]:
        """Return the position range of records with ``since <= instant < until``."""
        low, high = np.searchsorted(self.instants[stage], [since, until], side="left")
        return int(low), int(high)

    def after(self, stage: str, key: tuple[float, str]) -> int:
        """Return the position of the first record whose (instant, id) comes after ``key``."""
        instant, record_id = key
        low = int(np.searchsorted(self.instants[stage], instant, side="left"))
        high = int(np.searchsorted(self.instants[stage], instant, side="right"))
        return low + bisect.bisect_right(self._column(stage, "id", low, high), record_id)

    def key(self, stage: str, position: int) -> tuple[float, str]:
        """Return the (instant, id) of the record at ``position``."""
        return float(self.instants[stage][position]), self._column(stage, "id", position, position + 1)[0]

    def records(self, stage: str, start: int, end: int) -> list[bytes]:
        """Return the JSON bytes of the records at positions ``[start, end)``."""
        return self._column(stage, "record", start, end)

    def _column(self, stage: str, column: str, start: int, end: int) -> list[Any]:
        if start >= end:
            return []
        starts = self.starts[stage]
        first = bisect.bisect_right(starts, start) - 1
        last = bisect.bisect_right(starts, end - 1) - 1
        # A handle per read (the footer is reused): requests are answered on several threads.
        handle = pq.ParquetFile(self.paths[stage], metadata=self.metadata[stage])
        table = handle.read_row_groups(range(first, last + 1), columns=[column])
        return table.column(column).slice(start - starts[first], end - start).to_pylist()


class _Handler(BaseHTTPRequestHandler):
    server: StageServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests and the demo stay quiet; errors are answered with a status code

    def _send(
        self, status: int, body: bytes, headers: dict[str, str] | None = None, length: int | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body) if length is None else length))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, orjson.dumps({"error": message}), headers)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        parts = url.path.rstrip("/").split("/")
        if url.path.rstrip("/") == API_PREFIX:
            self._send(HTTPStatus.OK, orjson.dumps({"stages": list(STAGES)}))
            return
        if len(parts) != 4 or "/".join(parts[:3]) != API_PREFIX or parts[3] not in STAGES:
            self._error(HTTPStatus.NOT_FOUND, f"unknown endpoint {url.path}; stages are {', '.join(STAGES)}")
            return
        stage = parts[3]
        fault = self.server.fault_for(stage, query)
        if fault is not None:
            status, headers = fault
            self._error(status, "simulated fault", headers)
            return
        try:
            body = self.server.page(stage, query)
        except ValueError as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
            return
        if self.server.should_truncate():
            # Announce the full length but send half: the client sees an incomplete read or invalid JSON.
            self._send(HTTPStatus.OK, body[: len(body) // 2], length=len(body))
            self.close_connection = True
            return
        self._send(HTTPStatus.OK, body)


class StageServer(ThreadingHTTPServer):
    """A threaded HTTP server over one universe: in memory, or a folder written by ``write_universe``."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        universe: Universe | StoredUniverse,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
    ):
        super().__init__((host, port), _Handler)
        self.index = StoredStageIndex(universe) if isinstance(universe, StoredUniverse) else StageIndex(universe)
        self.faults = faults or Faults()
        self._rng = random.Random(self.faults.seed)
        self._lock = threading.Lock()
        self._vanished: set[str] = set()
        self.requests = 0

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8765``."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def _roll(self) -> float:
        with self._lock:
            return self._rng.random()

    def fault_for(self, stage: str, query: dict[str, str]) -> tuple[int, dict[str, str]] | None:
        """Decide whether this request fails on purpose."""
        with self._lock:
            self.requests += 1
        faults = self.faults
        if faults.latency:
            time.sleep(faults.latency)
        if faults.vanish_once and "cursor" in query and stage not in self._vanished:
            self._vanished.add(stage)
            return HTTPStatus.NOT_FOUND, {}
        if faults.throttle_rate and self._roll() < faults.throttle_rate:
            return HTTPStatus.TOO_MANY_REQUESTS, {"Retry-After": f"{faults.retry_after:g}"}
        if faults.error_rate and self._roll() < faults.error_rate:
            return self._rng.choice([500, 502, 503]), {}
        return None

    def should_truncate(self) -> bool:
        """Whether to cut this response short."""
        return bool(self.faults.truncate_rate) and self._roll() < self.faults.truncate_rate

    def page(self, stage: str, query: dict[str, str]) -> bytes:
        """Build one page of a stage as JSON bytes."""
        since = epoch(query["updated_since"]) if "updated_since" in query else float("-inf")
        until = epoch(query["updated_until"]) if "updated_until" in query else float("inf")
        index = self.index
        low, high = index.window(stage, since, until)
        total = high - low
        if "page" in query or "pageSize" in query:
            page, size = int(query.get("page", 1)), int(query.get("pageSize", 100))
            if page < 1 or not 1 <= size <= MAX_LIMIT:
                raise ValueError(f"page must be >= 1 and pageSize between 1 and {MAX_LIMIT}")
            start = low + (page - 1) * size
            rows = index.records(stage, start, min(start + size, high))
            pagination: dict[str, Any] = {"page": page, "pageSize": size, "total": total}
            next_query = {**query, "page": str(page + 1)} if start + size < high else None
        else:
            limit = int(query.get("limit", 500))
            if not 1 <= limit <= MAX_LIMIT:
                raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
            start = low
            if "cursor" in query:
                start = max(low, index.after(stage, _decode_cursor(query["cursor"])))
            end = min(start + limit, high)
            rows = index.records(stage, start, end)
            next_cursor = _encode_cursor(index.key(stage, end - 1)) if end < high and rows else None
            pagination = {"total": total, "limit": limit, "next_cursor": next_cursor}
            next_query = {**query, "cursor": next_cursor} if next_cursor else None
        links = {"next": f"{self.url}{API_PREFIX}/{stage}?{urlencode(next_query)}" if next_query else None}
        return (
            b'{"data":['
            + b",".join(rows)
            + b'],"pagination":'
            + orjson.dumps(pagination)
            + b',"links":'
            + orjson.dumps(links)
            + b"}"
        )


def serve_in_thread(universe: Universe | StoredUniverse, port: int = 0, faults: Faults | None = None) -> StageServer:
    """Start a server on loopback in a daemon thread and return it (call ``shutdown()`` to stop)."""
    server = StageServer(universe, port=port, faults=faults)
    thread = threading.Thread(target=server.serve_forever, name="stage-api", daemon=True)
    thread.start()
    return server
