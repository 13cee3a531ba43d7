"""A publication built night after night, reusing what did not change, equals one built from scratch.

Hand-made processes that start in 2024, 2025 and 2026 go through the real compile, tables and publish steps over
three nights; the last night touches 2026 only. Most tests refresh the yearly files every night
(``publication_refresh_days=0``); the last ones check the nights in between refreshes.
"""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from transforms import jsonio, packages, pipeline, tables
from transforms import publish as publishing
from transforms.intervals import MEXICO_CITY, Interval
from transforms.ocds.validate import Validator
from transforms.store import Store

NIGHTS = ("2026-11-18", "2026-11-19", "2026-11-20")
SUMMARIES: dict[Path, dict[str, Any]] = {}  # publication folder → what publish returned


def release(ocid: str, number: int, date: str, *, award: bool = False) -> dict[str, Any]:
    """Return a small valid release; an award release carries one award."""
    item: dict[str, Any] = {
        "ocid": ocid,
        "id": f"{ocid}-{number}",
        "date": date,
        "tag": ["award" if award else "tender"],
        "initiationType": "tender",
        "parties": [{"id": "UC1", "name": "Unidad", "roles": ["buyer"], "contactPoint": {"name": "Ana Secreta"}}],
        "buyer": {"id": "UC1", "name": "Unidad"},
    }
    if award:
        item["awards"] = [{"id": f"{ocid}-a{number}", "status": "active", "date": date}]
    else:
        item["tender"] = {"id": f"{ocid}-t", "title": f"Compra {ocid}", "tenderPeriod": {"startDate": date}}
    return item


def night_releases(removed: bool = False) -> dict[str, list[dict[str, Any]]]:
    first = [
        release("ocds-t-A", 1, "2024-05-01T10:00:00-06:00"),
        release("ocds-t-B", 1, "2025-03-01T10:00:00-06:00"),
        release("ocds-t-B", 2, "2025-04-01T10:00:00-06:00", award=True),
        release("ocds-t-C", 1, "2026-01-10T10:00:00-06:00"),
        release("ocds-t-D", 1, "2026-02-01T10:00:00-06:00"),
    ]
    return {
        NIGHTS[0]: [r for r in first if not (removed and r["ocid"] == "ocds-t-A")],
        # C's award comes dated in another year than C's first release: C stays in records/2026.
        NIGHTS[1]: [
            release("ocds-t-C", 2, "2026-11-19T09:00:00-06:00", award=True),
            release("ocds-t-E", 1, "2026-11-19T10:00:00-06:00"),
        ],
        NIGHTS[2]: [
            release("ocds-t-D", 2, "2026-11-20T09:00:00-06:00", award=True),
            release("ocds-t-F", 1, "2026-11-20T10:00:00-06:00"),
        ],
    }


def run_night(settings: Any, key: str, releases: list[dict[str, Any]], *, publish: bool = True) -> Path:
    """Store, compile and tabulate one night (then publish it); return its publication folder."""
    interval = Interval.for_day(key)
    store = Store(settings.data_root, settings.source_name)
    store.write_releases(key, releases)
    store.record_interval(key, interval.start, interval.end)  # as the normalize step does
    pipeline.compile(settings, interval)
    pipeline.build_tables(settings, interval)
    warehouse = pipeline.warehouse_dir(settings, key)
    tables.build_duckdb_if_changed(warehouse / "semaforo.duckdb", warehouse / "parquet")
    folder = settings.data_root / "publish" / key
    if publish:
        SUMMARIES[folder] = publishing.publish(settings, interval, pipeline.store(settings), warehouse, file_limit=3)
    return folder


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def same_file(a: Path, b: Path) -> bool:
    return (a.stat().st_dev, a.stat().st_ino) == (b.stat().st_dev, b.stat().st_ino)


@pytest.fixture
def nightly(settings):  # type: ignore[no-untyped-def]
    """Settings that rewrite the yearly files touched every night."""
    return settings.model_copy(update={"publication_refresh_days": 0})


@pytest.fixture
def nights(nightly):  # type: ignore[no-untyped-def]
    data = night_releases()
    folders = [run_night(nightly, key, data[key]) for key in NIGHTS]
    return nightly, folders


def test_unchanged_years_are_links_to_the_previous_publication(nights) -> None:  # type: ignore[no-untyped-def]
    settings, folders = nights
    before, tonight = folders[1], folders[2]
    for relative in (
        "records/2024.jsonl.gz",
        "records/2025.jsonl.gz",
        "releases/2024.jsonl.gz",
        "releases/2025.jsonl.gz",
        "flat/2024.csv.zip",
        "flat/2024.xlsx",
        "flat/2025.csv.zip",
        "schemas/core_awards.json",
    ):
        assert same_file(before / relative, tonight / relative), relative
    for relative in ("records/2026.jsonl.gz", "releases/2026.jsonl.gz", "flat/2026.csv.zip", "flat/full.csv.zip"):
        assert not same_file(before / relative, tonight / relative), relative
    warehouse = pipeline.warehouse_dir(settings, NIGHTS[2])
    assert same_file(warehouse / "semaforo.duckdb", tonight / "semaforo.duckdb")
    sums = dict(reversed(line.split("  ")) for line in (tonight / "SHA256SUMS").read_text().splitlines())
    assert all(sums[r] == publishing.sha256(tonight / r) for r in sums), "reused checksums are exact"
    summary = SUMMARIES[tonight]
    assert summary["reused"] == ["releases/2024", "releases/2025", "records/2024", "records/2025"]


def test_a_night_built_on_the_previous_equals_one_built_from_scratch(nights, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings, folders = nights
    interval = Interval.for_day(NIGHTS[2])
    store = pipeline.store(settings)
    warehouse = pipeline.warehouse_dir(settings, NIGHTS[2])
    # The same previous publication (it gives the change list), but nothing reused from it.
    other = settings.model_copy(update={"data_root": tmp_path / "other"})
    shutil.copytree(folders[1], other.data_root / "publish" / NIGHTS[1], copy_function=shutil.copyfile)
    publishing.publish(other, interval, store, warehouse, file_limit=3, rebuild=True)
    assert files(other.data_root / "publish" / NIGHTS[2]) == files(folders[2])

    # With no previous publication at all, only the change list (and what describes it) differs.
    fresh = settings.model_copy(update={"data_root": tmp_path / "fresh"})
    publishing.publish(fresh, interval, store, warehouse, file_limit=3)
    ours, theirs = files(fresh.data_root / "publish" / NIGHTS[2]), files(folders[2])
    differ = {path for path in ours.keys() | theirs.keys() if ours.get(path) != theirs.get(path)}
    assert differ == {"changes.csv", "index.html", "datapackage.json", "SHA256SUMS"}


def test_files_are_cut_by_first_release_and_link_their_releases(nights) -> None:  # type: ignore[no-untyped-def]
    settings, folders = nights
    folder = folders[2]
    ends = {key: Interval.for_day(key).end.astimezone(MEXICO_CITY).isoformat() for key in NIGHTS}
    resources = jsonio.read_json(folder / "datapackage.json")["resources"]
    ocds = {r["path"]: r["ocds"] for r in resources if "ocds" in r}
    published: dict[str, set[str]] = {}  # release file URL → release ids
    base = f"{settings.publication_base_uri}/latest/"
    for path, properties in ocds.items():
        schema = f"{properties['packageType']}-schema.json"
        lines = list(jsonio.read_jsonl(folder / path))
        assert Validator(settings, schema).check(lines).ok, path
        for package in lines:
            if properties["cut"] != "full":
                assert package["uri"] == base + path, "a package's URL is its yearly file's, stable across nights"
            for item in package.get("releases", []):
                published.setdefault(package["uri"], set()).add(item["id"])
    first_years = {"ocds-t-A": "2024", "ocds-t-B": "2025", "ocds-t-C": "2026", "ocds-t-D": "2026"}
    seen = []
    for path in (p for p in ocds if p.startswith("records/")):
        for package in jsonio.read_jsonl(folder / path):
            # publishedDate: when this file's content last changed (2024 and 2025 on the first night).
            year = path.split("/")[1][:4]
            assert package["publishedDate"] == ends[NIGHTS[0] if year in ("2024", "2025") else NIGHTS[2]]
            for record in package["records"]:
                seen.append(record["ocid"])
                assert first_years.get(record["ocid"], "2026") == year
                for link in record["releases"]:
                    url, release_id = link["url"].split("#")
                    assert release_id in published[url]
                    assert url.startswith(base + "releases/")
    assert sorted(seen) == [f"ocds-t-{x}" for x in "ABCDEF"]
    full = [p for p in ocds if p.startswith("records") and "/" not in p]
    assert sorted(r["ocid"] for p in full for pkg in jsonio.read_jsonl(folder / p) for r in pkg["records"]) == seen
    assert not any(b"Ana Secreta" in data for data in files(folder).values() if not data.startswith(b"\x1f\x8b"))


def test_the_change_list_covers_added_changed_and_removed(nightly, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = nightly
    data = night_releases()
    for key in NIGHTS[:2]:
        run_night(settings, key, data[key])
    folder = run_night(settings, NIGHTS[2], data[NIGHTS[2]])
    rows = list(csv.DictReader((folder / "changes.csv").open(encoding="utf-8")))
    assert [(r["ocid"], r["change"]) for r in rows] == [("ocds-t-D", "changed"), ("ocds-t-F", "added")]

    # The first night is re-run without A after the second was published: A is gone, and as the history under
    # the previous publication changed, nothing of it is reused.
    other = settings.model_copy(update={"data_root": tmp_path / "other"})
    gone = night_releases(removed=True)
    run_night(other, NIGHTS[0], data[NIGHTS[0]])
    run_night(other, NIGHTS[1], data[NIGHTS[1]])
    run_night(other, NIGHTS[0], gone[NIGHTS[0]], publish=False)
    folder = run_night(other, NIGHTS[2], data[NIGHTS[2]])
    rows = list(csv.DictReader((folder / "changes.csv").open(encoding="utf-8")))
    assert [(r["ocid"], r["change"]) for r in rows] == [
        ("ocds-t-A", "removed"),
        ("ocds-t-D", "changed"),
        ("ocds-t-F", "added"),
    ]
    before = other.data_root / "publish" / NIGHTS[1]
    assert not same_file(before / "records/2025.jsonl.gz", folder / "records/2025.jsonl.gz")
    assert not (folder / "records/2024.jsonl.gz").exists()


# -- between refreshes --------------------------------------------------------------------------------------------
def _ocds(folder: Path) -> dict[str, dict[str, Any]]:
    return {r["path"]: r["ocds"] for r in jsonio.read_json(folder / "datapackage.json")["resources"] if "ocds" in r}


def _by_ocid(folder: Path, paths: list[str]) -> dict[str, dict[str, Any]]:
    return {r["ocid"]: r for path in paths for package in jsonio.read_jsonl(folder / path) for r in package["records"]}


def test_between_refreshes_yearly_files_are_linked_and_the_changes_hold_the_rest(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = night_releases()
    folders = [run_night(settings, key, data[key]) for key in NIGHTS]  # refresh every 7 days: the first night only
    first, tonight = folders[0], folders[2]
    ocds = _ocds(tonight)
    yearly = [p for p, o in ocds.items() if o["cut"] not in ("full", "changes")]
    assert yearly and all(same_file(first / p, tonight / p) for p in yearly), "the files as cut on the first night"
    for relative in ("records.jsonl.gz", "releases.jsonl.gz", "flat/full.csv.zip", "flat/2026.csv.zip"):
        assert same_file(first / relative, tonight / relative), relative
    assert jsonio.read_json(tonight / "datapackage.json")["semaforo"]["cut"] == NIGHTS[0]
    assert SUMMARIES[tonight]["rewritten"] == ["releases/changes", "records/changes"]

    # The releases stored after the cut, and the records of their processes: as a refreshed publication has them.
    later = sorted(r["id"] for key in NIGHTS[1:] for r in data[key])
    assert (
        sorted(r["id"] for p in jsonio.read_jsonl(tonight / "releases/changes.jsonl.gz") for r in p["releases"])
        == later
    )
    changed = _by_ocid(tonight, ["records/changes.jsonl.gz"])
    assert sorted(changed) == ["ocds-t-C", "ocds-t-D", "ocds-t-E", "ocds-t-F"]
    fresh = settings.model_copy(update={"data_root": tmp_path / "fresh"})
    interval = Interval.for_day(NIGHTS[2])
    warehouse = pipeline.warehouse_dir(settings, NIGHTS[2])
    publishing.publish(fresh, interval, pipeline.store(settings), warehouse, file_limit=3)
    refreshed = fresh.data_root / "publish" / NIGHTS[2]
    records = _by_ocid(refreshed, [p for p, o in _ocds(refreshed).items() if o["cut"] == "full" and "records" in p])
    released: dict[str, set[str]] = {}  # release file URL → release ids, tonight
    for path, properties in ocds.items():
        lines = list(jsonio.read_jsonl(tonight / path))
        assert Validator(settings, f"{properties['packageType']}-schema.json").check(lines).ok, path
        for package in lines:
            for item in package.get("releases", []):
                released.setdefault(package["uri"], set()).add(item["id"])
    for ocid, record in changed.items():
        assert record["compiledRelease"] == records[ocid]["compiledRelease"]
        ours = [(link["date"], link["tag"], link["url"].split("#")[1]) for link in record["releases"]]
        assert ours == [(link["date"], link["tag"], link["url"].split("#")[1]) for link in records[ocid]["releases"]]
        for link in record["releases"]:  # earlier releases in the yearly files as cut, later ones in the changes
            url, release_id = link["url"].split("#")
            assert release_id in released[url]
    # The change list is still since the previous publication, not since the cut.
    rows = list(csv.DictReader((tonight / "changes.csv").open(encoding="utf-8")))
    assert [(r["ocid"], r["change"]) for r in rows] == [("ocds-t-D", "changed"), ("ocds-t-F", "added")]
    lookup = b"".join(p.read_bytes() for p in (tonight / "lookup").glob("*.json"))
    assert b"records/changes.jsonl.gz" in lookup


def test_the_yearly_files_are_rewritten_once_refresh_days_old(settings) -> None:  # type: ignore[no-untyped-def]
    every_other = settings.model_copy(update={"publication_refresh_days": 2})
    data = night_releases()
    folders = [run_night(every_other, key, data[key]) for key in NIGHTS]
    cuts = [jsonio.read_json(f / "datapackage.json")["semaforo"]["cut"] for f in folders]
    assert cuts == [NIGHTS[0], NIGHTS[0], NIGHTS[2]]
    assert (folders[1] / "records/changes.jsonl.gz").exists()
    assert not (folders[2] / "records/changes.jsonl.gz").exists()
    assert not same_file(folders[1] / "records/2026.jsonl.gz", folders[2] / "records/2026.jsonl.gz")
    # The refresh equals a publication rewritten in full.
    nightly = every_other.model_copy(update={"publication_refresh_days": 0})
    assert files(folders[2]) == files(run_night_again(nightly, folders[2]))

    # Both cuts keep their link indexes (a backfill of the second night links the first's files); an old index no
    # publication uses goes, and so does a cut's once its publication is gone.
    index = every_other.data_root / "publish" / ".index"
    kept = sorted(index.glob("links-*.parquet"))
    stray = index / "links-0.parquet"
    stray.write_bytes(b"")
    os.utime(stray, (0, 0))
    assert packages.prune_index(index.parent, folders) == 1 and sorted(index.glob("links-*.parquet")) == kept
    for path in kept:
        os.utime(path, (0, 0))
    assert packages.prune_index(index.parent, folders[1:]) > 0
    assert 0 < len(list(index.glob("links-*.parquet"))) < len(kept)


def run_night_again(settings: Any, folder: Path) -> Path:
    """Publish a night again with nothing reused; return its folder (the same)."""
    interval = Interval.for_day(folder.name)
    publishing.publish(settings, interval, pipeline.store(settings), pipeline.warehouse_dir(settings, folder.name),
                       file_limit=3, rebuild=True)  # fmt: skip
    return folder


def test_a_missing_link_index_refreshes(settings) -> None:  # type: ignore[no-untyped-def]
    data = night_releases()
    run_night(settings, NIGHTS[0], data[NIGHTS[0]])
    shutil.rmtree(settings.data_root / "publish" / ".index")
    folder = run_night(settings, NIGHTS[1], data[NIGHTS[1]])
    assert jsonio.read_json(folder / "datapackage.json")["semaforo"]["cut"] == NIGHTS[1]
    assert not (folder / "records/changes.jsonl.gz").exists()
    assert list((settings.data_root / "publish" / ".index").glob("links-*.parquet"))


def test_a_night_whose_cut_is_not_published_refreshes_and_the_next_links_the_cut(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = night_releases()
    sequential = settings.model_copy(update={"data_root": tmp_path / "sequential"})
    expected = [run_night(sequential, key, data[key]) for key in NIGHTS]
    first = run_night(settings, NIGHTS[0], data[NIGHTS[0]])
    first.rename(first.with_name("aside"))  # a backfill publishing the second night before the first is published
    second = run_night(settings, NIGHTS[1], data[NIGHTS[1]])
    assert jsonio.read_json(second / "datapackage.json")["semaforo"]["cut"] == NIGHTS[1]
    first.with_name("aside").rename(first)
    third = run_night(settings, NIGHTS[2], data[NIGHTS[2]])
    assert jsonio.read_json(third / "datapackage.json")["semaforo"]["cut"] == NIGHTS[0]
    assert same_file(first / "records/2026.jsonl.gz", third / "records/2026.jsonl.gz")

    def comparable(folder: Path) -> dict[str, bytes]:
        return {
            k: v for k, v in files(folder).items() if not k.endswith((".duckdb", "SHA256SUMS", "datapackage.json"))
        }

    assert comparable(third) == comparable(expected[2]), "what the night publishes depends on the stored data only"


# -- found in review ------------------------------------------------------------------------------------------------
def _cut(folder: Path) -> str:
    return str(jsonio.read_json(folder / "datapackage.json")["semaforo"]["cut"])


def _broken_links(folder: Path) -> list[tuple[str, str]]:
    """Return (record ocid, link URL) of every record link whose file does not hold the release it names."""
    released: dict[str, set[str]] = {}
    for path in _ocds(folder):
        for package in jsonio.read_jsonl(folder / path):
            for item in package.get("releases", []):
                if "id" in item:
                    released.setdefault(package["uri"], set()).add(item["id"])
    broken = []
    for path, properties in _ocds(folder).items():
        if properties["packageType"] == "record-package":
            for package in jsonio.read_jsonl(folder / path):
                for record in package["records"]:
                    for link in record["releases"]:
                        url, release_id = link["url"].split("#")
                        if release_id not in released.get(url, set()):
                            broken.append((record["ocid"], link["url"]))
    return broken


def test_a_gap_between_nights_does_not_move_an_earlier_cut(settings) -> None:  # type: ignore[no-untyped-def]
    keys = ["2026-11-01", "2026-11-06", "2026-11-21", "2026-11-22"]
    folders = [run_night(settings, k, [release(f"ocds-g-{n}", 1, f"{k}T10:00:00-06:00")]) for n, k in enumerate(keys)]
    # 11-06 ended five days after 11-01 did, whatever was stored after it: it stays a night between cuts.
    assert [_cut(f) for f in folders] == ["2026-11-01", "2026-11-01", "2026-11-21", "2026-11-21"]
    assert SUMMARIES[folders[3]]["rewritten"] == ["releases/changes", "records/changes"]


def test_a_night_between_cuts_does_not_depend_on_the_previous_publication(settings) -> None:  # type: ignore[no-untyped-def]
    data = night_releases()
    run_night(settings, NIGHTS[0], data[NIGHTS[0]])
    run_night(settings, NIGHTS[1], data[NIGHTS[1]])
    # The second night is stored again with one more release and not published again: the previous publication no
    # longer matches the store, but the cut (the first night) still does.
    run_night(
        settings, NIGHTS[1], [*data[NIGHTS[1]], release("ocds-t-Z", 1, "2026-11-19T11:00:00-06:00")], publish=False
    )
    tonight = run_night(settings, NIGHTS[2], data[NIGHTS[2]])
    assert _cut(tonight) == NIGHTS[0]
    changed = _by_ocid(tonight, ["records/changes.jsonl.gz"])
    assert "ocds-t-Z" in changed


def test_a_rebuild_between_cuts_publishes_the_same_bytes(settings) -> None:  # type: ignore[no-untyped-def]
    data = night_releases()
    folders = [run_night(settings, key, data[key]) for key in NIGHTS]
    before = files(folders[2])
    interval = Interval.for_day(NIGHTS[2])
    warehouse = pipeline.warehouse_dir(settings, NIGHTS[2])
    publishing.publish(settings, interval, pipeline.store(settings), warehouse, file_limit=3, rebuild=True)
    assert files(folders[2]) == before


def test_a_night_between_cuts_writes_the_same_bytes_as_one_part_after_the_other(settings, request) -> None:  # type: ignore[no-untyped-def]
    data = night_releases()
    folders = [run_night(settings, key, data[key]) for key in NIGHTS]
    before = files(folders[2])
    assert SUMMARIES[folders[2]]["reused"], "the night links its cut's yearly files"
    request.getfixturevalue("one_after_the_other")  # from here on, not before: threads first, then without
    interval = Interval.for_day(NIGHTS[2])
    warehouse = pipeline.warehouse_dir(settings, NIGHTS[2])
    publishing.publish(settings, interval, pipeline.store(settings), warehouse, file_limit=3, rebuild=True)
    assert files(folders[2]) == before


def test_records_never_link_a_release_file_that_split_elsewhere(settings) -> None:  # type: ignore[no-untyped-def]
    every_other = settings.model_copy(update={"publication_refresh_days": 2})
    keys = ["2026-11-18", "2026-11-19", "2026-11-20", "2026-11-21"]
    nights = {
        keys[0]: [
            release("ocds-t-Q", 1, "2025-03-01T10:00:00-06:00"),
            release("ocds-t-Q", 2, "2026-01-05T10:00:00-06:00", award=True),
            release("ocds-t-R", 1, "2026-01-06T10:00:00-06:00", award=True),
            release("ocds-t-S", 1, "2026-01-07T10:00:00-06:00", award=True),
        ],
        keys[1]: [],
        # Three awards of another process dated early in 2026: releases/2026 splits elsewhere (3 awards a file).
        keys[2]: [release("ocds-t-A", n, f"2026-02-01T0{n}:00:00-06:00", award=True) for n in range(1, 4)],
        keys[3]: [release("ocds-t-Q", 3, "2026-11-21T10:00:00-06:00")],
    }
    folders = [run_night(every_other, key, nights[key]) for key in keys]
    assert [_cut(f) for f in folders] == [keys[0], keys[0], keys[2], keys[2]]
    for folder in folders:
        assert _broken_links(folder) == [], folder.name


def test_a_history_stored_again_with_other_content_is_noticed(settings) -> None:  # type: ignore[no-untyped-def]
    data = night_releases()
    run_night(settings, NIGHTS[0], data[NIGHTS[0]])
    run_night(settings, NIGHTS[1], data[NIGHTS[1]])
    # The cut night is stored again: as many releases, one with another title.
    other = [dict(r, tender={**r["tender"], "title": "Otra compra"}) if r["id"] == "ocds-t-A-1" else r
             for r in data[NIGHTS[0]]]  # fmt: skip
    run_night(settings, NIGHTS[0], other, publish=False)
    tonight = run_night(settings, NIGHTS[2], data[NIGHTS[2]])
    assert _cut(tonight) == NIGHTS[2], "the cut's files no longer hold the stored history: cut tonight"
    records = _by_ocid(tonight, ["records/2024.jsonl.gz"])
    assert records["ocds-t-A"]["compiledRelease"]["tender"]["title"] == "Otra compra"


def test_a_night_between_cuts_with_other_flat_file_settings_writes_its_own(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = night_releases()
    first = run_night(settings, NIGHTS[0], data[NIGHTS[0]])
    assert (first / "flat/full.xlsx").exists()
    run_night(settings, NIGHTS[1], data[NIGHTS[1]], publish=False)
    interval, warehouse = Interval.for_day(NIGHTS[1]), pipeline.warehouse_dir(settings, NIGHTS[1])
    # Workbooks only for tables of one row: the first night's flat files, made with Excel's limit, cannot be linked.
    publishing.publish(settings, interval, pipeline.store(settings), warehouse, file_limit=3, excel_rows=2)
    tonight = settings.data_root / "publish" / NIGHTS[1]
    assert _cut(tonight) == NIGHTS[1]
    assert not (tonight / "flat/full.xlsx").exists() and (tonight / "flat/full.csv.zip").exists()
