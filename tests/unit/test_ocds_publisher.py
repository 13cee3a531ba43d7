"""Configured OCDS publishers against a loopback server: every paging style, faults, byte-exact landing, resume."""

from __future__ import annotations

import hashlib
import json
import random
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from transforms import jsonio
from transforms.errors import SourceError
from transforms.intervals import Interval
from transforms.settings import Settings, load_settings
from transforms.sources import ocds_publisher as op
from transforms.sources.http import RetryingClient

INTERVAL = Interval.for_day("2026-11-10")
PUBLISHER = {"name": "Publicador de Pruebas"}


def _release(number: int) -> dict[str, Any]:
    return {
        "ocid": f"ocds-test00-P{number // 3:03d}",
        "id": f"release-{number:03d}",
        "date": f"2026-11-10T{number % 24:02d}:00:00-06:00",
        "tag": ["tender"],
        "initiationType": "tender",
    }


RELEASES = [_release(n) for n in range(47)]


def _records() -> list[dict[str, Any]]:
    """One record per ocid; every fourth only links its releases and carries a compiled release instead."""
    by_ocid: dict[str, list[dict[str, Any]]] = {}
    for release in RELEASES:
        by_ocid.setdefault(release["ocid"], []).append(release)
    records = []
    for index, (ocid, releases) in enumerate(sorted(by_ocid.items())):
        compiled = {**releases[-1], "id": f"{ocid}-compiled", "tag": ["compiled"]}
        if index % 4 == 3:
            linked = [
                {"url": f"https://example.org/{r['id']}.json", "date": r["date"], "tag": r["tag"]} for r in releases
            ]
            records.append({"ocid": ocid, "releases": linked, "compiledRelease": compiled})
        else:
            records.append({"ocid": ocid, "releases": releases, "compiledRelease": compiled})
    return records


RECORDS = _records()


def _expected_from_records() -> list[tuple[str, str]]:
    expected = []
    for record in RECORDS:
        if "url" in record["releases"][0]:
            expected.append((record["ocid"], record["compiledRelease"]["id"]))
        else:
            expected += [(r["ocid"], r["id"]) for r in record["releases"]]
    return expected


class _Handler(BaseHTTPRequestHandler):
    server: Publisher

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _answer(self, method: str, body: dict[str, Any] | None) -> None:
        url = urlparse(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        self.server.requests.append((method, url.path, query, body))
        key = (url.path, json.dumps(query, sort_keys=True), json.dumps(body, sort_keys=True))
        fault = self.server.faults.get(key)
        if fault and key not in self.server.failed:
            self.server.failed.add(key)
            status, headers = fault
            self._send(status, b'{"error": "simulated"}', headers)
            return
        payload = self.server.page(url.path, query, body)
        # Pretty-printed with a trailing newline: a landing that re-serialised the JSON would not match.
        data = json.dumps(payload, indent=1, ensure_ascii=False).encode() + b"\n"
        self.server.sent.append(data)
        self._send(200, data)

    def do_GET(self) -> None:
        self._answer("GET", None)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self._answer("POST", json.loads(self.rfile.read(length)))


class Publisher(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, str, dict[str, str], dict[str, Any] | None]] = []
        self.sent: list[bytes] = []
        self.faults: dict[tuple[str, str, str], tuple[int, dict[str, str]]] = {}
        self.failed: set[tuple[str, str, str]] = set()
        self.total_offset = 0  # added to announced totals, to test the check

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def fail_once(self, path: str, query: dict[str, str], status: int, headers: dict[str, str] | None = None) -> None:
        key = (path, json.dumps(query, sort_keys=True), json.dumps(None))
        self.faults[key] = (status, headers or {})

    def page(self, path: str, query: dict[str, str], body: dict[str, Any] | None) -> dict[str, Any]:
        if path == "/v1/contrataciones":  # the federal API: page/pageSize, 1-based, record packages
            page, size = int(query["page"]), int(query["pageSize"])
            chunk = RECORDS[(page - 1) * size : page * size]
            return {
                "pagination": {"page": page, "pageSize": size, "total": len(RECORDS) + self.total_offset},
                "results": [{"version": "1.1", "publisher": PUBLISHER, "records": [record]} for record in chunk],
            }
        if path == "/s6/api/v1/search":  # PDN S6: POST {"page", "pageSize"}, 0-based, releases at /data
            assert body is not None
            page, size = body["page"], body["pageSize"]
            chunk = RELEASES[page * size : (page + 1) * size]
            return {"pagination": {"page": page, "pageSize": size, "total": len(RELEASES)}, "data": chunk}
        if path == "/qeq/contracts":  # QuiénEsQuién: offset/limit, the count at /count; serves at most 7 a page
            offset, limit = int(query["offset"]), min(int(query["limit"]), 7)
            return {"count": len(RELEASES), "data": RELEASES[offset : offset + limit]}
        if path == "/packages":  # a release package per page, links.next to the following one
            start = int(query.get("cursor", 0))
            package: dict[str, Any] = {
                "uri": f"{self.url}/packages?cursor={start}",
                "version": "1.1",
                "publisher": PUBLISHER,
                "publishedDate": "2026-11-11T03:00:00-06:00",
                "releases": RELEASES[start : start + 10],
            }
            if start + 10 < len(RELEASES):
                package["links"] = {"next": f"{self.url}/packages?cursor={start + 10}"}
            return package
        raise AssertionError(f"unexpected path {path}")


@pytest.fixture
def publisher() -> Iterator[Publisher]:
    server = Publisher()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_root=tmp_path / "data")


@pytest.fixture
def sleeps() -> list[float]:
    return []  # the client's waits, recorded instead of slept


@pytest.fixture
def client(sleeps: list[float]) -> Iterator[RetryingClient]:
    with RetryingClient(timeout=5, attempts=4, sleep=sleeps.append, rng=random.Random(0)) as retrying:
        yield retrying


def _sources(base: str) -> dict[str, op.PublisherSource]:
    return {
        "page": op.PublisherSource(
            name="federal",
            url=f"{base}/v1/contrataciones",
            kind="record_package",
            paging="page",
            page_size=4,
            items="/results",
            total="/pagination/total",
            since_param="desde",
            until_param="hasta",
        ),
        "post": op.PublisherSource(
            name="pdn_s6",
            url=f"{base}/s6/api/v1/search",
            kind="release_package",
            paging="post",
            page_size=10,
            items="/data",
            total="/pagination/total",
            params={"supplier_id": "SHCP"},
        ),
        "offset": op.PublisherSource(
            name="qeq",
            url=f"{base}/qeq/contracts",
            kind="release_package",
            paging="offset",
            page_size=20,
            items="/data",
            total="/count",
        ),
        "links": op.PublisherSource(name="packages", url=f"{base}/packages", kind="release_package", paging="links"),
    }


def _landed(settings: Settings, source: op.PublisherSource) -> list[tuple[str, str]]:
    return [(r["ocid"], r["id"]) for r in op.iter_releases(settings, source, INTERVAL)]


def _assert_byte_exact(settings: Settings, source: op.PublisherSource, publisher: Publisher) -> dict[str, Any]:
    folder = op.landing_dir(settings, source, INTERVAL)
    manifest = jsonio.read_json(folder / "manifest.json")
    bodies = [(folder / page["path"]).read_bytes() for page in manifest["pages"]]
    assert bodies == publisher.sent
    assert [hashlib.sha256(b).hexdigest() for b in bodies] == [page["sha256"] for page in manifest["pages"]]
    assert not (folder / "checkpoint.json").exists()
    return manifest


def test_page_paging_with_a_503_and_a_429(
    publisher: Publisher, settings: Settings, client: RetryingClient, sleeps: list[float]
) -> None:
    source = _sources(publisher.url)["page"]
    publisher.fail_once("/v1/contrataciones", {"page": "2", "pageSize": "4", **_dates()}, 503)
    publisher.fail_once("/v1/contrataciones", {"page": "3", "pageSize": "4", **_dates()}, 429, {"Retry-After": "7"})
    result = op.fetch(source, settings, INTERVAL, client)

    pages = -(-len(RECORDS) // 4)
    assert result == {
        "complete": True,
        "path": str(op.landing_dir(settings, source, INTERVAL)),
        "items": len(RECORDS),
        "pages": pages,
    }
    landed = _landed(settings, source)
    assert Counter(landed).most_common(1)[0][1] == 1  # nothing twice
    assert sorted(landed) == sorted(_expected_from_records())
    assert client.retries == 2 and 7.0 in sleeps  # the 429's Retry-After was honoured
    manifest = _assert_byte_exact(settings, source, publisher)
    assert manifest["total"] == manifest["items"] == len(RECORDS)
    assert [page["attempts"] for page in manifest["pages"]][:3] == [1, 2, 2]
    # The date filter went out with every request.
    assert all(query["desde"] == INTERVAL.start.isoformat() for _, _, query, _ in publisher.requests)


def _dates() -> dict[str, str]:
    return {"desde": INTERVAL.start.isoformat(), "hasta": INTERVAL.end.isoformat()}


def test_post_paging_is_zero_based(publisher: Publisher, settings: Settings, client: RetryingClient) -> None:
    source = _sources(publisher.url)["post"]
    result = op.fetch(source, settings, INTERVAL, client)
    assert result["items"] == len(RELEASES) and result["pages"] == 5
    assert _landed(settings, source) == [(r["ocid"], r["id"]) for r in RELEASES]
    posts = [(method, query, body) for method, _, query, body in publisher.requests]
    assert posts == [("POST", {"supplier_id": "SHCP"}, {"page": n, "pageSize": 10}) for n in range(5)]
    manifest = _assert_byte_exact(settings, source, publisher)
    assert [page["body"]["page"] for page in manifest["pages"]] == list(range(5))


def test_post_retries_transient_failures(publisher: Publisher, settings: Settings, client: RetryingClient) -> None:
    source = _sources(publisher.url)["post"]
    first = (
        "/s6/api/v1/search",
        json.dumps({"supplier_id": "SHCP"}),
        json.dumps({"page": 0, "pageSize": 10}, sort_keys=True),
    )
    publisher.faults[first] = (503, {})
    op.fetch(source, settings, INTERVAL, client)
    assert client.retries == 1
    assert Counter(_landed(settings, source)) == Counter((r["ocid"], r["id"]) for r in RELEASES)


def test_offset_paging_moves_by_what_the_server_returned(
    publisher: Publisher, settings: Settings, client: RetryingClient
) -> None:
    source = _sources(publisher.url)["offset"]
    result = op.fetch(source, settings, INTERVAL, client)
    assert result["pages"] == -(-len(RELEASES) // 7)  # the server caps pages at 7, below the 20 asked for
    assert _landed(settings, source) == [(r["ocid"], r["id"]) for r in RELEASES]
    assert [int(q["offset"]) for _, _, q, _ in publisher.requests] == list(range(0, len(RELEASES), 7))


def test_links_paging_follows_next_with_a_429(
    publisher: Publisher, settings: Settings, client: RetryingClient, sleeps: list[float]
) -> None:
    source = _sources(publisher.url)["links"]
    publisher.fail_once("/packages", {"cursor": "20"}, 429, {"Retry-After": "0"})
    result = op.fetch(source, settings, INTERVAL, client)
    assert result["pages"] == 5
    landed = _landed(settings, source)
    assert landed == [(r["ocid"], r["id"]) for r in RELEASES]
    assert client.retries == 1 and sleeps == [0.0]
    _assert_byte_exact(settings, source, publisher)


def test_a_killed_run_resumes_at_the_next_page(
    publisher: Publisher, settings: Settings, client: RetryingClient
) -> None:
    source = _sources(publisher.url)["page"]
    assert op.fetch(source, settings, INTERVAL, client, max_pages=2) == {"complete": False, "pages": 2}
    assert not op.landing_dir(settings, source, INTERVAL).exists()
    op.fetch(source, settings, INTERVAL, client)
    pages = [int(q["page"]) for _, _, q, _ in publisher.requests]
    assert pages == list(range(1, -(-len(RECORDS) // 4) + 1))  # each page asked for once
    assert sorted(_landed(settings, source)) == sorted(_expected_from_records())


def test_rerun_replaces_the_landing(publisher: Publisher, settings: Settings, client: RetryingClient) -> None:
    source = _sources(publisher.url)["links"]
    op.fetch(source, settings, INTERVAL, client)
    op.fetch(source, settings, INTERVAL, client)
    folder = op.landing_dir(settings, source, INTERVAL)
    assert len(list((folder / "pages").iterdir())) == 5
    assert [p.name for p in folder.parent.iterdir()] == [INTERVAL.key]
    assert len(_landed(settings, source)) == len(RELEASES)


def test_a_wrong_total_fails_the_landing(publisher: Publisher, settings: Settings, client: RetryingClient) -> None:
    publisher.total_offset = 1
    source = _sources(publisher.url)["page"]
    with pytest.raises(SourceError, match="announced"):
        op.fetch(source, settings, INTERVAL, client)


def test_a_client_error_is_not_retried(publisher: Publisher, settings: Settings, client: RetryingClient) -> None:
    source = op.PublisherSource(name="nowhere", url=f"{publisher.url}/nowhere", kind="release_package", paging="links")
    publisher.fail_once("/nowhere", {}, 400)
    with pytest.raises(SourceError, match="HTTP 400"):
        op.fetch(source, settings, INTERVAL, client)
    assert client.retries == 0


def test_records_with_only_linked_releases_need_a_compiled_release() -> None:
    linked = {
        "ocid": "ocds-x-1",
        "releases": [{"url": "https://example.org/1.json", "date": "2026-01-01T00:00:00Z", "tag": ["tender"]}],
    }
    with pytest.raises(SourceError, match="compiledRelease"):
        list(op.releases_of("record_package", {"records": [linked]}))
    compiled = {"ocid": "ocds-x-1", "id": "c", "date": "2026-01-01T00:00:00Z", "tag": ["compiled"]}
    assert list(op.releases_of("record_package", {**linked, "compiledRelease": compiled})) == [compiled]


def test_pointers_and_declarations() -> None:
    page = {"a/b": {"~k": [10, 20]}, "pagination": {"total": 3}}
    assert op.resolve(page, "/a~1b/~0k/1") == 20
    assert op.resolve(page, "/missing", None) is None
    with pytest.raises(SourceError, match="nothing at"):
        op.resolve(page, "/pagination/count")
    with pytest.raises(SourceError, match="JSON pointer"):
        op.PublisherSource(name="x", url="http://x", kind="record_package", paging="page", total="pagination/total")
    with pytest.raises(SourceError, match="paging must be"):
        op.PublisherSource(name="x", url="http://x", kind="record_package", paging="cursor")  # type: ignore[arg-type]
    pdn = op.load_sources()["pdn_s6_shcp"]
    assert pdn.start == 0 and pdn.items_pointer == "/data"
    assert _sources("http://x")["page"].start == 1
    assert _sources("http://x")["links"].items_pointer == "/releases"
