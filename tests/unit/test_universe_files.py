"""The universe written to disk in bounded memory is the in-memory universe of the same config, record for record."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from transforms.errors import SourceError
from transforms.sources import universe_files
from transforms.sources.simulator import STAGES, SimulationConfig, simulate
from transforms.sources.universe_files import StoredUniverse, write_universe


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spill and write in tiny batches, so several spills and row groups are exercised."""
    monkeypatch.setattr(universe_files, "SPILL_ROWS", 37)
    monkeypatch.setattr(universe_files, "ROW_GROUP", 16)


@pytest.mark.parametrize(
    "config",
    [
        SimulationConfig(seed=11, procedures=500),
        # Mexico City kept daylight saving time until October 2022: stamps carry two offsets in this window.
        SimulationConfig(seed=12, procedures=400, start=dt.date(2021, 1, 1), end=dt.date(2022, 12, 31)),
    ],
)
@pytest.mark.usefixtures("small_batches")
def test_stored_universe_equals_the_in_memory_one(config: SimulationConfig, tmp_path: Path) -> None:
    stored = write_universe(config, tmp_path / "universe")
    universe = simulate(config)
    assert stored.config == config
    assert stored.count() == universe.count()
    for stage in STAGES:
        assert list(stored.iter_records(stage)) == universe.records[stage], stage
    assert stored.ground_truth == universe.ground_truth
    assert stored.suppliers == universe.suppliers
    assert stored.buyers == universe.buyers
    groups = pq.read_metadata(stored.stage_path("payments")).num_row_groups
    assert groups == -(-universe.count()["payments"] // 16)


@pytest.mark.usefixtures("small_batches")
def test_rewriting_gives_the_same_bytes_and_leaves_nothing_behind(tmp_path: Path) -> None:
    config = SimulationConfig(seed=3, procedures=200)
    folder = tmp_path / "universe"
    write_universe(config, folder)
    first = {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    write_universe(config, folder)
    again = {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    assert again == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["universe"]  # no staging folder or spill left


def test_a_folder_that_is_no_universe_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="holds no simulated universe"):
        StoredUniverse.open(tmp_path)
