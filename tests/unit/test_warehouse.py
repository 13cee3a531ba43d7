"""A night's warehouse snapshot, built from the night before and the processes that changed, equals a full rebuild."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from transforms import jsonio, pipeline, tables, warehouse
from transforms.intervals import Interval
from transforms.store import Store

# The history (one interval, as a first load) spans three years; later nights leave the oldest partitions alone.
HISTORY = Interval(Interval.for_day("2023-06-01").start, Interval.for_day("2026-01-04").end)
NIGHTS = ["2023-06-01", "2026-01-05", "2026-01-06", "2026-01-07"]


def _parquet(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted((root / "parquet").rglob("*.parquet"))
    }


@pytest.fixture(scope="module")
def multi_year_universe():  # type: ignore[no-untyped-def]
    from transforms.sources.simulator import SimulationConfig, simulate

    return simulate(SimulationConfig(seed=5, procedures=900, start=dt.date(2023, 6, 1), end=dt.date(2026, 1, 7)))


@pytest.fixture(scope="module")
def nightly(tmp_path_factory, ocds_dir, multi_year_universe):  # type: ignore[no-untyped-def]
    """Land, map, compile and build the tables night after night; return the settings and each night's summary.

    Tests may change the store afterwards only in a copy (see ``test_a_snapshot_whose_inputs_changed_is_not_a_base``).
    """
    from transforms.settings import load_settings
    from transforms.sources.stage_api import serve_in_thread

    server = serve_in_thread(multi_year_universe)
    root = tmp_path_factory.mktemp("nightly") / "data"
    settings = load_settings(data_root=root, ocds_schema_dir=ocds_dir, source_url=server.url)
    summaries = {}
    for night in NIGHTS:
        interval = HISTORY if night == NIGHTS[0] else Interval.for_day(night)
        for step in (pipeline.extract, pipeline.normalize, pipeline.compile):
            step(settings, interval)
        summaries[night] = pipeline.build_tables(settings, interval)
    server.shutdown()
    server.server_close()
    return settings, summaries


def test_each_night_equals_a_full_rebuild_byte_for_byte(nightly, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings, summaries = nightly
    store = Store(settings.data_root, settings.source_name)
    assert summaries[NIGHTS[0]]["base"] is None
    for previous, night in itertools.pairwise(NIGHTS):
        assert summaries[night]["base"] == previous
        assert summaries[night]["partitions_linked"] > 0  # untouched years were not rewritten
    for night in NIGHTS:
        rebuilt = tmp_path / "rebuild" / night
        rebuilt.mkdir(parents=True)
        interval = HISTORY if night == NIGHTS[0] else Interval.for_day(night)
        summary = warehouse.build(store, tmp_path / "empty", interval, rebuilt)
        assert summary["base"] is None
        nightly_folder = pipeline.warehouse_dir(settings, night)
        assert _parquet(nightly_folder) == _parquet(rebuilt), night


def test_a_night_lists_every_process_whose_rows_differ_from_its_base(nightly) -> None:  # type: ignore[no-untyped-def]
    import duckdb

    settings, summaries = nightly
    assert not (pipeline.warehouse_dir(settings, NIGHTS[0]) / warehouse.CHANGED).exists(), "no base: nothing listed"
    for previous, night in itertools.pairwise(NIGHTS):
        before, after = (pipeline.warehouse_dir(settings, key) for key in (previous, night))
        if summaries[night]["organizations_moved"]:  # rows of unchanged processes changed: nothing listed
            assert not (after / warehouse.CHANGED).exists(), night
            continue
        listed = set(pq.read_table(after / warehouse.CHANGED).column("ocid").to_pylist())
        assert len(listed) == summaries[night]["ocids_changed"], night
        differing: set[str] = set()
        with duckdb.connect() as con:
            for name in tables.process_tables():
                old, new = (f"read_parquet('{folder}/parquet/{name}/*/*.parquet')" for folder in (before, after))
                differing |= {
                    ocid
                    for (ocid,) in con.execute(
                        f"SELECT ocid FROM ((FROM {new} EXCEPT ALL FROM {old}) "
                        f"UNION ALL (FROM {old} EXCEPT ALL FROM {new}))"
                    ).fetchall()
                }
        assert differing and differing <= listed, night


def test_the_rows_of_some_processes_are_theirs_in_the_snapshots_order(nightly) -> None:  # type: ignore[no-untyped-def]
    import pyarrow.dataset as ds

    settings, _ = nightly
    folder = pipeline.warehouse_dir(settings, NIGHTS[-1])
    processes = warehouse.datasets(folder)["core_contracting_processes"].to_table(columns=["ocid", "year"])
    by_year = processes.group_by("year").aggregate([("ocid", "min"), ("ocid", "max")])
    assert by_year.num_rows > 1
    wanted = sorted({*by_year.column("ocid_min").to_pylist(), by_year.column("ocid_max")[0].as_py(), "ocds-none"})
    found = warehouse.rows_of(folder, wanted)
    for name, dataset in warehouse.datasets(folder).items():
        expected = (
            dataset.to_table(filter=ds.field("ocid").isin(wanted))
            if name in tables.process_tables()
            else dataset.to_table()
        )
        assert found[name].equals(expected), name
    assert found["core_contracting_processes"].num_rows == len(wanted) - 1


def test_unchanged_partitions_are_hard_links_of_the_night_before(nightly) -> None:  # type: ignore[no-untyped-def]
    settings, summaries = nightly
    before, after = (pipeline.warehouse_dir(settings, night) for night in NIGHTS[-2:])
    linked = [
        path
        for path in after.rglob("part-0.parquet")
        if (before / path.relative_to(after)).exists()
        and path.stat().st_ino == (before / path.relative_to(after)).stat().st_ino
    ]
    assert len(linked) == summaries[NIGHTS[-1]]["partitions_linked"] > 0


def test_a_snapshot_whose_inputs_changed_is_not_a_base(nightly, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings, _ = nightly
    shutil.copytree(settings.data_root, tmp_path / "data")
    store = Store(tmp_path / "data", settings.source_name)
    root = tmp_path / "data" / "warehouse"
    assert warehouse.find_base(root, store, NIGHTS[-1] + "x") == warehouse.Base(NIGHTS[-1], root / NIGHTS[-1])
    # Re-compiling an earlier night with other content invalidates every snapshot built on it.
    store.write_compiled(NIGHTS[1], [{"ocid": "ocds-x-1", "id": "1", "date": "2026-11-08T00:00:00-06:00"}])
    assert warehouse.find_base(root, store, NIGHTS[-1] + "x") == warehouse.Base(NIGHTS[0], root / NIGHTS[0])


def test_the_snapshot_counts_reconcile_with_the_compiled_store(nightly) -> None:  # type: ignore[no-untyped-def]
    settings, summaries = nightly
    store = Store(settings.data_root, settings.source_name)
    folder = pipeline.warehouse_dir(settings, NIGHTS[-1])
    processes = tables.read_table(folder / "parquet", "core_contracting_processes")
    assert (
        processes.num_rows
        == store.count_compiled(NIGHTS[-1])
        == summaries[NIGHTS[-1]]["rows"]["core_contracting_processes"]
    )
    meta = pq.read_table(folder / "parquet" / "core_dataset_meta").to_pylist()[0]
    assert meta["process_count"] == processes.num_rows
    manifest = jsonio.read_json(folder / "manifest.json")
    assert set(manifest["compiled"]) == set(NIGHTS)


def test_pruning_keeps_the_latest_snapshots_up_to_the_night_and_every_later_one(tmp_path: Path) -> None:
    for name in ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04", "2026-01-05", ".staging-x", "cache"]:
        (tmp_path / name).mkdir()
    assert warehouse.prune(tmp_path, "2026-01-03", keep=2) == ["2026-01-01"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".staging-x",
        "2026-01-02",
        "2026-01-03",
        "2026-01-04",
        "2026-01-05",
        "cache",
    ]


def _observe_awards(compiled: list[dict]) -> dict[str, pa.Table]:  # type: ignore[type-arg]
    """A stand-in for the indicators: one row per process with awards, keyed by ocid."""
    rows = [(c["ocid"], len(c["awards"])) for c in compiled if c.get("awards")]
    return {"obs_awards": pa.table({"ocid": [o for o, _ in rows], "awards": [n for _, n in rows]})}


def test_observations_are_kept_like_the_tables(nightly, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings, _ = nightly
    store = Store(settings.data_root, settings.source_name)
    observer = warehouse.Observer(
        {"obs_awards": pa.schema([("ocid", pa.string()), ("awards", pa.int64())])}, _observe_awards
    )
    root = tmp_path / "warehouse"
    for night in NIGHTS[-2:]:
        (root / night).mkdir(parents=True)
        summary = warehouse.build(store, root, Interval.for_day(night), root / night, observer)
    assert summary["base"] == NIGHTS[-2]
    (tmp_path / "rebuilt").mkdir()
    warehouse.build(store, tmp_path / "nothing", Interval.for_day(NIGHTS[-1]), tmp_path / "rebuilt", observer)
    nightly_obs = sorted((root / NIGHTS[-1] / "observations").rglob("*.parquet"))
    assert nightly_obs and [p.read_bytes() for p in nightly_obs] == [
        (tmp_path / "rebuilt" / p.relative_to(root / NIGHTS[-1])).read_bytes() for p in nightly_obs
    ]
    observed = [row for path in nightly_obs for row in pq.read_table(path).to_pylist()]
    awards = tables.read_table(root / NIGHTS[-1] / "parquet", "core_awards")
    assert sum(row["awards"] for row in observed) == awards.num_rows


def test_a_night_built_again_keeps_its_snapshot_and_a_changed_one_is_swapped(nightly, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings, _ = nightly
    shutil.copytree(settings.data_root, tmp_path / "data", symlinks=True)
    again = settings.model_copy(update={"data_root": tmp_path / "data"})
    folder = pipeline.warehouse_dir(again, NIGHTS[-1])
    before = _parquet(folder)
    assert pipeline.build_tables(again, Interval.for_day(NIGHTS[-1]))["kept_existing"]  # as a racing backfill would
    assert _parquet(folder) == before
    rebuilt = tmp_path / "rebuilt"
    shutil.copytree(folder, rebuilt)
    assert warehouse.same_snapshot(rebuilt, folder)
    changed = next((rebuilt / "parquet").rglob("*.parquet"))
    changed.write_bytes(changed.read_bytes() + b"x")
    assert not warehouse.same_snapshot(rebuilt, folder)


def test_replacing_a_snapshot_waits_for_the_steps_that_read_it(tmp_path: Path) -> None:
    import threading

    folder = tmp_path / "warehouse" / "2026-01-01"
    replaced = threading.Event()

    def replace() -> None:
        with warehouse.lock(folder, exclusive=True):
            replaced.set()

    with warehouse.lock(folder, exclusive=False), warehouse.lock(folder, exclusive=False):  # two readers at once
        thread = threading.Thread(target=replace)
        thread.start()
        assert not replaced.wait(0.3)
    thread.join(5)
    assert replaced.is_set()


def test_partitions_written_beside_the_next_read_are_all_written_and_a_failed_write_raises(tmp_path: Path) -> None:
    table = pa.table({"ocid": ["a", "b"], "year": [2025, 2025]})
    with warehouse._Writer() as writer:
        for number in range(3):
            writer.write(tmp_path / f"year={number}" / warehouse.PARTITION, table)
    assert [pq.read_table(tmp_path / f"year={n}" / warehouse.PARTITION).equals(table) for n in range(3)] == [True] * 3
    (tmp_path / "blocked").write_text("a file where a folder should be")
    with pytest.raises(OSError), warehouse._Writer() as writer:
        writer.write(tmp_path / "blocked" / "year=2025" / warehouse.PARTITION, table)
