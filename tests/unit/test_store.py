"""Incremental compile: only touched ocids are recompiled, and the state equals a full recompile, every night."""

from __future__ import annotations

import datetime as dt

from transforms import jsonio, pipeline
from transforms import store as store_module
from transforms.intervals import Interval
from transforms.ocds.compile import compile_releases
from transforms.ocds.schema import load_schema
from transforms.store import Store, sha256

NIGHTS = [(dt.date(2026, 11, 1) + dt.timedelta(days=n)).isoformat() for n in range(6)]


def test_incremental_compile_equals_full_recompile(settings, stage_server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(store_module, "LATEST_OCIDS", 7)  # the latest compiled releases are read in many ranges
    settings = settings.model_copy(update={"source_url": stage_server.url})
    store = Store(settings.data_root, settings.source_name)
    schema = load_schema(settings)
    touched_total = 0
    for key in NIGHTS:
        interval = Interval.for_day(key)
        pipeline.extract(settings, interval)
        pipeline.normalize(settings, interval)
        summary = pipeline.compile(settings, interval)
        touched_total += summary["ocids_touched"]
        full = list(compile_releases(store.iter_all_releases(key), schema))
        # Byte for byte, key order included: the night's releases were folded into yesterday's compiled releases.
        assert [jsonio.dumps(c) for c in store.iter_compiled(key)] == [jsonio.dumps(c) for c in full]
        assert summary["ocids_recompiled_in_full"] == 0
        assert summary["processes_total"] == len(full)
        assert summary["compiled_releases"] == summary["ocids_touched"] < len(full) or key == NIGHTS[0]
    assert touched_total > len(full)  # some processes changed on several nights: each time only they were redone


def test_rerunning_a_night_replaces_it(settings, stage_server) -> None:  # type: ignore[no-untyped-def]
    settings = settings.model_copy(update={"source_url": stage_server.url})
    store = Store(settings.data_root, settings.source_name)
    interval = Interval.for_day(NIGHTS[0])
    for _ in range(2):
        pipeline.extract(settings, interval)
        pipeline.normalize(settings, interval)
        pipeline.compile(settings, interval)
    first = store.releases_path(NIGHTS[0]).read_bytes()
    compiled = store.compiled_path(NIGHTS[0]).read_bytes()
    pipeline.normalize(settings, interval)
    pipeline.compile(settings, interval)
    assert store.releases_path(NIGHTS[0]).read_bytes() == first
    assert store.compiled_path(NIGHTS[0]).read_bytes() == compiled
    assert sorted(p.name for p in store.releases_path(NIGHTS[0]).parent.iterdir()) == [
        "interval.json",
        "quarantine.jsonl.gz",
        "releases.parquet",
        "releases.parquet.sha256",
    ]
    assert store.releases_digest(NIGHTS[0]) == sha256(store.releases_path(NIGHTS[0]))
    recorded = store.interval_end(NIGHTS[0])
    assert recorded == interval.end


def test_no_duckdb_connection_draws_a_progress_bar_on_a_task_log() -> None:
    """DuckDB draws a progress bar on queries past 2 s unless told not to: at a million processes that fills the
    Airflow task logs. Every connection the pipeline opens is quiet (``store.quiet_connect``)."""
    import re
    from pathlib import Path

    from transforms import store

    root = Path(__file__).resolve().parents[2]
    loud = []
    for path in sorted([*(root / "transforms").rglob("*.py"), *(root / "models").rglob("*.py")]):
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            opened = re.search(r"\bduckdb\.connect\(", line) and "print(" not in line
            # store.quiet_connect, and a connection that switches the bar off itself right after opening.
            if opened and not any("enable_progress_bar = false" in after for after in lines[number + 1 : number + 6]):
                loud.append(f"{path.relative_to(root)}:{number + 1}")
    assert loud == []
    for con in (store.quiet_connect(), store.connect()):
        with con:
            assert con.sql("SELECT current_setting('enable_progress_bar')").fetchall() == [(False,)]
