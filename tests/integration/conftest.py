"""The real nightly DAG, run once per test session for the integration tests."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from concurrent.futures import Future
from typing import Any

import pytest

from transforms.airflow_env import run_dag
from transforms.intervals import Interval
from transforms.sources.simulator import simulate
from transforms.sources.stage_api import serve_in_thread


@pytest.fixture(scope="session")
def dag_run(tmp_path_factory, small_config, ocds_dir):  # type: ignore[no-untyped-def]
    from transforms.settings import load_settings

    config = dataclasses.replace(small_config, single_bid_rate=0.5)
    universe = simulate(config)
    planted = [g for g in universe.ground_truth if g["pattern"] == "single_bid"]
    # The night with the most planted single bids published: the interval whose run can see them.
    key = Counter(dt.datetime.fromisoformat(g["updated"]).date().isoformat() for g in planted).most_common(1)[0][0]
    server = serve_in_thread(universe)
    settings = load_settings(
        data_root=tmp_path_factory.mktemp("run") / "data", ocds_schema_dir=ocds_dir, source_url=server.url
    )
    try:
        result = run_dag(settings, [key])
    finally:
        server.shutdown()
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return settings, universe, Interval.for_day(key), planted


class _OneAfterTheOther:
    """An executor running each submitted call at once, before the caller goes on."""

    def __init__(self, workers: int) -> None:
        pass

    def __enter__(self) -> _OneAfterTheOther:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def submit(self, func: Any, *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(func(*args))
        except Exception as exc:
            future.set_exception(exc)
        return future


@pytest.fixture
def one_after_the_other(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make publish write each part it gives a thread at once, before going on: no two parts at the same time."""
    from transforms import publish

    monkeypatch.setattr(publish, "ThreadPoolExecutor", _OneAfterTheOther)
