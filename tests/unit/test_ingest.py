"""Ingest through the stage API: faults change nothing, a killed run resumes without duplicates or gaps."""

from __future__ import annotations

import random

from transforms import jsonio
from transforms.intervals import Interval
from transforms.sources import compranet_api
from transforms.sources.http import RetryingClient
from transforms.sources.stage_api import Faults, serve_in_thread

DAY = Interval.for_day("2026-11-10")


def _landed(settings) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(stage, record["id"]) for stage, record in compranet_api.read_landed(settings, DAY)]


def _client() -> RetryingClient:
    return RetryingClient(attempts=30, backoff=0.001, max_backoff=0.01, rng=random.Random(1))


def test_faults_land_exactly_the_same_records(settings, small_universe, stage_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    clean = settings.model_copy(update={"source_url": stage_server.url, "page_size": 7})
    compranet_api.extract(clean, DAY)
    expected = _landed(clean)
    assert len(expected) > 50

    faults = Faults(
        error_rate=0.10, truncate_rate=0.10, throttle_rate=0.10, retry_after=0.01, vanish_once=True, seed=3
    )
    flaky_server = serve_in_thread(small_universe, faults=faults)
    try:
        flaky = clean.model_copy(update={"source_url": flaky_server.url, "data_root": tmp_path / "flaky"})
        with _client() as client:
            result = compranet_api.extract(flaky, DAY, client=client)
        assert client.retries > 0  # the faults really happened
        assert result["complete"]
        assert _landed(flaky) == expected
    finally:
        flaky_server.shutdown()


def test_killed_ingest_resumes_without_duplicates_or_gaps(settings, stage_server) -> None:  # type: ignore[no-untyped-def]
    settings = settings.model_copy(update={"source_url": stage_server.url, "page_size": 5})
    partial = compranet_api.extract(settings, DAY, max_pages=4)
    assert partial == {"complete": False, "pages": 4}
    assert not compranet_api.landing_dir(settings, DAY).exists()  # nothing half-done is visible
    resumed = compranet_api.extract(settings, DAY)
    assert resumed["complete"]
    landed = _landed(settings)
    assert len(landed) == len(set(landed))

    fresh = settings.model_copy(update={"data_root": settings.data_root.parent / "fresh"})
    compranet_api.extract(fresh, DAY)
    assert sorted(landed) == sorted(_landed(fresh))


def test_relanding_replaces_the_interval(settings, stage_server) -> None:  # type: ignore[no-untyped-def]
    settings = settings.model_copy(update={"source_url": stage_server.url})
    compranet_api.extract(settings, DAY)
    first = _landed(settings)
    compranet_api.extract(settings, DAY)
    assert _landed(settings) == first
    siblings = sorted(p.name for p in compranet_api.landing_dir(settings, DAY).parent.iterdir())
    assert siblings == [f".lock-{DAY.key}", DAY.key]  # no partial landing left behind, only the lock file


def test_a_checkpoint_cut_short_by_a_kill_is_dropped_and_its_page_fetched_again(settings, stage_server) -> None:  # type: ignore[no-untyped-def]
    settings = settings.model_copy(update={"source_url": stage_server.url, "page_size": 5})
    compranet_api.extract(settings, DAY, max_pages=4)
    journal = compranet_api.landing_dir(settings, DAY).with_name(f".partial-{DAY.key}") / compranet_api.JOURNAL
    lines = journal.read_bytes().splitlines()
    assert len(lines) == 1 + 4  # the interval, then one appended line per page: nothing is rewritten
    journal.write_bytes(b"\n".join(lines[:-1]) + b"\n" + lines[-1][:25])  # the kill came while writing page 4's
    resumed = compranet_api.extract(settings, DAY)
    assert resumed["complete"]
    landed = _landed(settings)
    fresh = settings.model_copy(update={"data_root": settings.data_root.parent / "fresh"})
    compranet_api.extract(fresh, DAY)
    assert landed == _landed(fresh)
    paths = [
        [page["path"] for page in jsonio.read_json(compranet_api.landing_dir(s, DAY) / "manifest.json")["pages"]]
        for s in (settings, fresh)
    ]
    assert paths[0] == paths[1]  # the dropped page is listed once, in its place
