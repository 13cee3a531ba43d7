"""Streaming normalize (bids grouped on disk, releases sorted out of core) writes what the in-memory path writes."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from transforms import jsonio, normalize, spill
from transforms.ocds.mapping import to_releases
from transforms.sources.simulator import STAGES, Universe
from transforms.store import RELEASE_SCHEMA, ROW_GROUP, Store

PREFIX = "ocds-test00"


def write_in_memory(path: Path, releases: list[dict[str, Any]]) -> None:
    """The releases file as the in-memory path writes it: one sort in Python, one table."""
    rows = sorted(releases, key=lambda r: (r["ocid"], r["date"], r["id"]))
    table = pa.Table.from_pydict(
        {
            "ocid": [r["ocid"] for r in rows],
            "release_id": [r["id"] for r in rows],
            "date": [r["date"] for r in rows],
            "release": [jsonio.dumps(r).decode() for r in rows],
        },
        schema=RELEASE_SCHEMA,
    )
    pq.write_table(table, path, compression="zstd", row_group_size=ROW_GROUP)


def awkward_records(universe: Universe) -> list[tuple[str, dict[str, Any]]]:
    """Every record of a universe, shuffled so bid groups span the input, with defects and duplicates mixed in."""
    records = [(stage, row) for stage in STAGES for row in universe.records[stage]]
    random.Random(5).shuffle(records)
    bids = [row for stage, row in records if stage == "bids"]
    broken_group = [dict(row, monto=-1) for row in bids if row["codigo_expediente"] == bids[0]["codigo_expediente"]]
    records += [("bids", row) for row in broken_group]  # a second group under the same key: it joins the first
    records += [
        ("contracts", {"id": "x", "siglas": "IMSS", "actualizado": "not a date", "numero_procedimiento": "P"}),
        ("nonsense", {"id": "z"}),
        ("bids", {"id": "b1", "numero_procedimiento": "Q", "codigo_expediente": "9", "monto": "abc"}),
    ]
    records += records[:40]  # records landed twice: their releases tie on (ocid, date, id)
    return records


@pytest.mark.parametrize("spill_rows", [7, 20_000])
def test_streaming_equals_in_memory(
    small_universe: Universe, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spill_rows: int
) -> None:
    monkeypatch.setattr(normalize, "SPILL_ROWS", spill_rows)
    records = awkward_records(small_universe)
    releases, quarantined = to_releases(records, PREFIX)
    assert quarantined and len(releases) > 1000
    write_in_memory(tmp_path / "expected.parquet", releases)
    jsonio.write_jsonl(tmp_path / "expected.jsonl.gz", quarantined)

    store = Store(tmp_path / "data", "test")
    quarantine = tmp_path / "data" / "quarantine.jsonl.gz"
    summary = normalize.normalize(iter(records), PREFIX, store, "2026-11-10", quarantine)

    assert store.releases_path("2026-11-10").read_bytes() == (tmp_path / "expected.parquet").read_bytes()
    assert quarantine.read_bytes() == (tmp_path / "expected.jsonl.gz").read_bytes()
    assert summary == {
        "records_in": len(records),
        "records_mapped": len(records) - len(quarantined),
        "records_quarantined": len(quarantined),
        "releases_out": len(releases),
        "ocids": len({r["ocid"] for r in releases}),
    }
    assert sorted(p.name for p in store.releases_root.iterdir()) == ["2026-11-10"]  # no work folder left


def test_bid_groups_come_back_in_first_come_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(normalize, "SPILL_ROWS", 2)
    groups = normalize.SpilledBidGroups(tmp_path)
    keys = [("B", "2"), ("A", "1"), ("B", "2"), ("C", "3"), ("A", "1"), ("B", "2")]
    for n, key in enumerate(keys):
        groups.add(key, {"n": n})
    assert [[r["n"] for r in group] for group in groups.groups()] == [[0, 2, 5], [1, 4], [3]]


def test_no_bids_no_groups(tmp_path: Path) -> None:
    assert list(normalize.SpilledBidGroups(tmp_path).groups()) == []


def test_write_releases_sorts_any_number_in_row_groups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("transforms.store.ROW_GROUP", 10)
    monkeypatch.setattr(spill, "SORT_MEMORY", "16MB")
    rng = random.Random(3)
    releases = [
        {"ocid": f"ocds-x-{rng.randrange(40)}", "id": f"r{n % 50}", "date": f"2026-0{rng.randrange(1, 9)}", "n": n}
        for n in range(1000)
    ]
    store = Store(tmp_path, "test")
    assert store.write_releases("k", iter(releases)) == 1000
    stored = list(store.read_releases("k"))
    assert stored == sorted(releases, key=lambda r: (r["ocid"], r["date"], r["id"]))  # a stable sort: ties in order
    metadata = pq.read_metadata(store.releases_path("k"))
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [10] * 100
    assert normalize.distinct_sorted(store.releases_path("k"), "ocid") == len({r["ocid"] for r in releases})


def test_a_release_without_string_keys_is_refused(tmp_path: Path) -> None:
    from transforms.errors import SourceError

    with pytest.raises(SourceError, match="must be strings"):
        Store(tmp_path, "test").write_releases("k", [{"ocid": "o", "id": "1", "date": None}])
