"""The stage API serves the same bytes from a universe in memory and from its folder, reading only what pages need."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from transforms.sources import universe_files
from transforms.sources.simulator import STAGES, SimulationConfig, Universe
from transforms.sources.stage_api import StageServer, serve_in_thread
from transforms.sources.universe_files import StoredUniverse, epoch, write_universe

DAY = {"updated_since": "2026-11-10T00:00:00-06:00", "updated_until": "2026-11-11T00:00:00-06:00"}
WINDOWS = [DAY, {"updated_since": "2026-11-01T12:00:00-06:00"}, {"updated_until": "2026-10-20T00:00:00-06:00"}]
ROW_GROUP = 16


@pytest.fixture(scope="module")
def stored(small_config: SimulationConfig, tmp_path_factory: pytest.TempPathFactory) -> StoredUniverse:
    """The small universe written to disk in row groups of 16 records, so pages span several of them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(universe_files, "ROW_GROUP", ROW_GROUP)
        return write_universe(small_config, tmp_path_factory.mktemp("stored") / "universe")


@pytest.fixture(scope="module")
def servers(small_universe: Universe, stored: StoredUniverse) -> Iterator[tuple[StageServer, StageServer]]:
    memory, disk = serve_in_thread(small_universe), serve_in_thread(stored)
    yield memory, disk
    for server in (memory, disk):
        server.shutdown()
        server.server_close()


def _walk(client: httpx.Client, server: StageServer, stage: str, query: dict[str, Any]) -> list[bytes]:
    """Follow ``links.next`` from the first page; return every body with the server's address taken out."""
    bodies = []
    url: str | None = f"{server.url}/api/v1/{stage}"
    params: dict[str, Any] | None = query
    while url:
        response = client.get(url, params=params)
        assert response.status_code == 200, response.text
        bodies.append(response.content.replace(server.url.encode(), b"BASE"))
        url, params = response.json()["links"]["next"], None
    return bodies


@pytest.mark.parametrize("stage", STAGES)
def test_both_forms_serve_the_same_bytes(stage: str, servers: tuple[StageServer, StageServer]) -> None:
    memory, disk = servers
    queries = [{**window, "limit": limit} for window in WINDOWS for limit in (7, 500)]
    queries += [{**DAY, "page": 1, "pageSize": 5}, {"page": 2, "pageSize": 200}, {"page": 999, "pageSize": 100}]
    with httpx.Client() as client:
        for query in queries:
            assert _walk(client, disk, stage, query) == _walk(client, memory, stage, query), query


def test_pages_hold_each_record_of_the_window_once_in_order(
    small_universe: Universe, servers: tuple[StageServer, StageServer]
) -> None:
    since, until = (dt.datetime.fromisoformat(DAY[k]).timestamp() for k in ("updated_since", "updated_until"))
    expected = sorted(
        (epoch(row["actualizado"]), row["id"])
        for row in small_universe.records["bids"]
        if since <= epoch(row["actualizado"]) < until
    )
    # The bids of one procedure share an instant: with one record a page, the cursor must break the tie by id.
    assert len({instant for instant, _ in expected}) < len(expected)
    for server in servers:
        with httpx.Client() as client:
            pages = [
                httpx.Response(200, content=body).json() for body in _walk(client, server, "bids", {**DAY, "limit": 1})
            ]
        landed = [(epoch(r["actualizado"]), r["id"]) for page in pages for r in page["data"]]
        assert landed == expected
        assert {page["pagination"]["total"] for page in pages} == {len(expected)}


def test_a_page_reads_only_the_row_groups_it_needs(
    stored: StoredUniverse, servers: tuple[StageServer, StageServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[int] = []
    original = pq.ParquetFile.read_row_groups

    def counting(self: pq.ParquetFile, row_groups: Any, *args: Any, **kwargs: Any) -> Any:
        read.extend(row_groups)
        return original(self, row_groups, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read_row_groups", counting)
    _, disk = servers
    total_groups = pq.read_metadata(stored.stage_path("payments")).num_row_groups
    limit = 40
    with httpx.Client() as client:
        first = client.get(f"{disk.url}/api/v1/payments", params={"limit": limit}).json()
        read.clear()
        client.get(
            f"{disk.url}/api/v1/payments", params={"limit": limit, "cursor": first["pagination"]["next_cursor"]}
        )
    # The cursor's instant (its ties) and the page: a handful of groups, not the file.
    assert 0 < len(read) <= 2 * (limit // ROW_GROUP + 2) < total_groups


@pytest.mark.parametrize("query", [{"cursor": "garbage"}, {"limit": 0}, {"page": 0}])
def test_bad_queries_are_refused_by_both_forms(
    query: dict[str, Any], servers: tuple[StageServer, StageServer]
) -> None:
    for server in servers:
        response = httpx.get(f"{server.url}/api/v1/tenders", params=query)
        assert response.status_code == 400


def test_an_empty_stage_is_served(tmp_path: Path) -> None:
    config = SimulationConfig(
        seed=1, procedures=30, amendment_increase_rate=0, amendment_extension_rate=0, benign_amendment_rate=0
    )
    stored = write_universe(config, tmp_path / "universe")
    assert stored.count()["amendments"] == 0
    server = serve_in_thread(stored)
    try:
        page = httpx.get(f"{server.url}/api/v1/amendments").json()
        assert page["data"] == [] and page["pagination"]["total"] == 0 and page["links"]["next"] is None
    finally:
        server.shutdown()
        server.server_close()
