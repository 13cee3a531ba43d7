"""The publication the real DAG made: valid OCDS in every file, a complete Frictionless descriptor, year cuts that add
up, files split at the hosting limit, a change list, byte-identical re-runs, and no personal data anywhere.

``frictionless`` is not a dependency yet, so the descriptor is checked structurally here (Data Package and Table
Schema rules that ``frictionless validate`` enforces, plus every CSV cell against its field type).
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from transforms import jsonio
from transforms import publish as publishing
from transforms.intervals import MEXICO_CITY
from transforms.ocds.mapping import EXTENSIONS
from transforms.ocds.validate import Validator
from transforms.redact import personal_values
from transforms.settings import LIBRE_USO_MX
from transforms.store import Store

TABLE_SCHEMA_TYPES = {
    "string", "number", "integer", "boolean", "object", "array", "date", "time", "datetime", "year", "yearmonth",
    "duration", "geopoint", "geojson", "any",
}  # fmt: skip
NAME = re.compile(r"^[a-z0-9._-]+$")
CELL = {
    "integer": re.compile(r"^-?\d+$"),
    "number": re.compile(r"^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$|^(NaN|-?inf)$"),
    "boolean": re.compile(r"^(true|false)$"),
    "datetime": re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"),
    "date": re.compile(r"^\d{4}-\d{2}-\d{2}$"),
}


def folder_of(dag_run) -> Path:  # type: ignore[no-untyped-def]
    settings, _, interval, _ = dag_run
    return settings.data_root / "publish" / interval.key


def ocds_files(folder: Path) -> dict[str, str]:
    """Every OCDS file of a publication with its package schema, from ``datapackage.json``."""
    resources = jsonio.read_json(folder / "datapackage.json")["resources"]
    return {r["path"]: f"{r['ocds']['packageType']}-schema.json" for r in resources if "ocds" in r}


def test_every_ocds_file_validates_and_carries_complete_metadata(dag_run) -> None:  # type: ignore[no-untyped-def]
    settings, _, interval, _ = dag_run
    folder = folder_of(dag_run)
    files = ocds_files(folder)
    resources = {r["path"]: r for r in jsonio.read_json(folder / "datapackage.json")["resources"]}
    assert set(files) == {p.relative_to(folder).as_posix() for p in folder.rglob("*.jsonl.gz")}
    assert {"records.jsonl.gz", "releases.jsonl.gz"} <= set(files)
    assert any(path.startswith("records/") for path in files) and any(path.startswith("releases/") for path in files)
    for path, schema in files.items():
        packages = list(jsonio.read_jsonl(folder / path))
        report = Validator(settings, schema).check(packages)
        assert report.ok and report.documents == len(packages) > 0, f"{path}: {report.format()}"
        members = resources[path]["ocds"].get("members") or [path]
        for package in packages:
            # A stable URL: the yearly file under "latest" (a full file concatenates yearly files' packages).
            assert package["uri"] in {f"{settings.publication_base_uri}/latest/{m}" for m in members}
            # The night's only interval: everything last changed in it.
            assert package["publishedDate"] == interval.end.astimezone(MEXICO_CITY).isoformat()
            assert package["publisher"] == {"name": settings.publisher_name, "uri": settings.publisher_uri}
            assert package["license"] == LIBRE_USO_MX
            assert package["publicationPolicy"] == settings.publication_policy_url
            assert package["version"] == "1.1" and package["extensions"] == EXTENSIONS


def _records(folder: Path, paths: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path in paths:
        for package in jsonio.read_jsonl(folder / path):
            for record in package.get("records", []):
                yield path, record


def _releases(folder: Path, paths: list[str]) -> list[tuple[str, str]]:
    return sorted(
        (release["ocid"], release["id"])
        for path in paths
        for package in jsonio.read_jsonl(folder / path)
        for release in package.get("releases", [])
    )


def test_years_add_up_to_the_full_files(dag_run) -> None:  # type: ignore[no-untyped-def]
    settings, _, interval, _ = dag_run
    folder = folder_of(dag_run)
    files = ocds_files(folder)
    full = [p for p in files if "/" not in p]
    yearly = [p for p in files if "/" in p]
    full_records = {record["ocid"]: record for _, record in _records(folder, [p for p in full if "records" in p])}
    compiled = list(Store(settings.data_root, settings.source_name).iter_compiled(interval.key))
    assert sorted(full_records) == sorted(c["ocid"] for c in compiled)
    by_year = list(_records(folder, [p for p in yearly if p.startswith("records/")]))
    assert sorted(record["ocid"] for _, record in by_year) == sorted(full_records)
    first = {ocid: min(r["date"] for r in releases) for ocid, releases in _release_dates(settings, interval.key)}
    for path, record in by_year:
        # A record goes by the year of the process's first release, so it never moves to another file.
        assert path.split("/")[1].split(".")[0].split("-")[0] == first[record["ocid"]][:4]
    assert _releases(folder, [p for p in yearly if p.startswith("releases/")]) == _releases(
        folder, [p for p in full if "releases" in p]
    )


def _release_dates(settings: Any, key: str) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for release in Store(settings.data_root, settings.source_name).iter_all_releases(key):
        grouped.setdefault(release["ocid"], []).append(release)
    yield from grouped.items()


def _table_schema_ok(schema: dict[str, Any]) -> None:
    names = [f["name"] for f in schema["fields"]]
    assert names and len(set(names)) == len(names)
    assert all(f["type"] in TABLE_SCHEMA_TYPES for f in schema["fields"]), schema
    assert set(schema.get("primaryKey", [])) <= set(names)


def _check_csv(text: str, schema: dict[str, Any], where: str) -> int:
    rows = list(csv.reader(io.StringIO(text)))
    fields = schema["fields"]
    assert rows[0] == [f["name"] for f in fields], where
    for row in rows[1:]:
        assert len(row) == len(fields), where
        for cell, field in zip(row, fields, strict=True):
            pattern = CELL.get(field["type"])
            assert cell == "" or pattern is None or pattern.match(cell), f"{where}: {field['name']}={cell!r}"
            enum = field.get("constraints", {}).get("enum")
            assert cell == "" or not enum or cell in enum, f"{where}: {field['name']}={cell!r}"
    return len(rows) - 1


def test_datapackage_describes_every_file_with_its_schema(dag_run) -> None:  # type: ignore[no-untyped-def]
    folder = folder_of(dag_run)
    package = jsonio.read_json(folder / "datapackage.json")
    assert package["profile"] == "data-package" and NAME.match(package["name"])
    assert package["licenses"] and all("path" in licence or "name" in licence for licence in package["licenses"])
    assert package["created"] == dag_run[2].end.astimezone(MEXICO_CITY).isoformat()
    resources = package["resources"]
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert {r["path"] for r in resources} == files - {"datapackage.json", "SHA256SUMS"}
    assert len({r["name"] for r in resources}) == len(resources)
    sums = dict(reversed(line.split("  ")) for line in (folder / "SHA256SUMS").read_text().splitlines())
    assert set(sums) == files - {"SHA256SUMS"}
    schemas: dict[str, dict[str, Any]] = {}
    for resource in resources:
        path = folder / resource["path"]
        assert NAME.match(resource["name"]) and resource["profile"] in ("data-resource", "tabular-data-resource")
        assert resource["bytes"] == path.stat().st_size
        assert resource["hash"] == f"sha256:{sums[resource['path']]}" == f"sha256:{publishing.sha256(path)}"
        assert resource["format"] and resource["mediatype"]
        referenced = [resource.get("schema")] + [t["schema"] for t in resource.get("tables", [])]
        for reference in filter(None, referenced):
            schemas[reference] = jsonio.read_json(folder / reference)  # a path inside the package
            _table_schema_ok(schemas[reference])
        if resource["profile"] == "tabular-data-resource":
            assert resource["format"] == "csv" and resource["encoding"] == "utf-8"
            _check_csv(path.read_text(encoding="utf-8"), schemas[resource["schema"]], resource["path"])
        if resource["format"] == "zip":
            with zipfile.ZipFile(path) as archive:
                assert sorted(archive.namelist()) == sorted(t["path"] for t in resource["tables"])
                for table in resource["tables"]:
                    text = archive.read(table["path"]).decode("utf-8")
                    assert _check_csv(text, schemas[table["schema"]], table["path"]) == table["rows"]
    described = {r["path"] for r in resources}
    assert {"flat/full.csv.zip", "flat/full.xlsx", "semaforo.duckdb", "flags.csv", "changes.csv"} <= described
    assert {"data_dictionary.md", "indicators.md", "index.html", "data_docs/index.html"} <= described
    assert any(p.startswith("parquet/core_contracting_processes/") for p in described)


def _publish_tiny(dag_run, root: Path) -> tuple[Any, Path, dict[str, Any]]:  # type: ignore[no-untyped-def]
    settings, _, interval, _ = dag_run
    other = settings.model_copy(update={"data_root": root})
    # The previous publication is the latest dated folder before the night, whatever "latest" points at; these
    # hold nothing to reuse (no datapackage.json, no checksums), and the store has nothing up to them.
    jsonio.write_jsonl(root / "publish" / "2000-01-01" / "records.jsonl.gz", [])
    jsonio.write_jsonl(root / "publish" / "2001-01-01" / "records.jsonl.gz", [])
    (root / "publish" / "latest").symlink_to("2000-01-01")
    store = Store(settings.data_root, settings.source_name)
    warehouse = settings.data_root / "warehouse" / interval.key
    summary = publishing.publish(other, interval, store, warehouse, file_limit=40)
    return other, root / "publish" / interval.key, {"summary": summary, "store": store}


@pytest.fixture(scope="module")
def tiny(dag_run, tmp_path_factory) -> tuple[Any, Path, dict[str, Any]]:  # type: ignore[no-untyped-def]
    """The same night published under another root with a tiny file limit, after hand-made earlier folders."""
    return _publish_tiny(dag_run, tmp_path_factory.mktemp("tiny"))


def test_a_cut_night_writes_the_same_bytes_as_one_part_after_the_other(  # type: ignore[no-untyped-def]
    tiny, dag_run, tmp_path: Path, one_after_the_other: None
) -> None:
    """A cut night writes its tables and flat files in a thread beside the OCDS files: the publication is the same as
    when they are written first, alone."""
    _, folder, _ = _publish_tiny(dag_run, tmp_path)
    assert (folder / "SHA256SUMS").read_text() == (tiny[1] / "SHA256SUMS").read_text()


def test_a_failure_writing_the_flat_files_publishes_nothing(  # type: ignore[no-untyped-def]
    dag_run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transforms import flat

    def broken(*args: Any, **kwargs: Any) -> Any:
        kwargs["spill"].mkdir(parents=True)  # as DuckDB makes it when it spills
        raise OSError("disk full")

    monkeypatch.setattr(flat, "export", broken)
    with pytest.raises(OSError, match="disk full"):
        _publish_tiny(dag_run, tmp_path)
    # No publication of the night, no staging or spill folder left; the link index (".index") is a cache.
    left = {p.name for p in (tmp_path / "publish").iterdir()} - {".index"}
    assert left == {"2000-01-01", "2001-01-01", "latest"}
    assert (tmp_path / "publish" / "latest").resolve().name == "2000-01-01"


def test_files_split_at_the_limit_stay_valid_and_complete(tiny, dag_run) -> None:  # type: ignore[no-untyped-def]
    settings, folder, _ = tiny
    files = ocds_files(folder)
    parts = [p for p in files if re.search(r"-\d+\.jsonl\.gz$", p)]
    assert parts, "a limit of 40 splits the files"
    resources = {r["path"]: r for r in jsonio.read_json(folder / "datapackage.json")["resources"]}
    for path, schema in files.items():
        packages = list(jsonio.read_jsonl(folder / path))
        report = Validator(settings, schema).check(packages)
        assert report.ok, report.format()
        items = [i for p in packages for i in p.get("records") or p.get("releases")]
        awards = sum(len((i.get("compiledRelease") or i).get("awards") or []) for i in items)
        contracts = sum(len((i.get("compiledRelease") or i).get("contracts") or []) for i in items)
        assert len(items) == 1 or (awards <= 40 and contracts <= 40), path
        assert resources[path]["ocds"]["part"] >= 1
    # Split or not, the same records and releases are published.
    default = folder_of(dag_run)
    ours = sorted(
        r["ocid"] for _, r in _records(folder, [p for p in files if p.startswith("records") and "/" not in p])
    )
    theirs = sorted(r["ocid"] for _, r in _records(default, ["records.jsonl.gz"]))
    assert ours == theirs
    full_releases = [p for p in files if p.startswith("releases") and "/" not in p]
    assert _releases(folder, full_releases) == _releases(default, ["releases.jsonl.gz"])


def test_the_change_list_compares_with_the_previous_publication(tiny) -> None:  # type: ignore[no-untyped-def]
    settings, folder, made = tiny
    rows = list(csv.DictReader((folder / "changes.csv").open(encoding="utf-8")))
    assert made["summary"]["changes"]["previous"] == "2001-01-01"
    # Nothing was stored up to 2001: every process is new since then (tests/integration/test_publication_nights.py
    # covers changed and removed processes).
    assert {row["change"] for row in rows} == {"added"} and len(rows) == made["summary"]["records"]
    assert (settings.data_root / "publish" / "latest").resolve() == folder


def test_a_rerun_gives_the_same_bytes(tiny, dag_run) -> None:  # type: ignore[no-untyped-def]
    settings, folder, made = tiny
    before = (folder / "SHA256SUMS").read_text()
    interval = dag_run[2]
    publishing.publish(
        settings, interval, made["store"], dag_run[0].data_root / "warehouse" / interval.key, file_limit=40
    )
    assert (folder / "SHA256SUMS").read_text() == before


def _texts(path: Path) -> Iterator[tuple[str, bytes]]:
    """Yield the content of a published file as bytes, opening every container format the publication uses."""
    name = path.name
    if name.endswith(".gz"):
        yield name, gzip.decompress(path.read_bytes())
    elif name.endswith((".zip", ".xlsx")):
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                yield f"{name}:{member}", archive.read(member)
    elif name.endswith(".parquet"):
        yield name, repr(pq.read_table(path).to_pylist()).encode()
    elif name.endswith(".duckdb"):
        with duckdb.connect(str(path), read_only=True) as con:
            for (table,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall():
                yield f"{name}:{table}", repr(con.execute(f'SELECT * FROM "{table}"').fetchall()).encode()
    else:
        yield name, path.read_bytes()


def _leaks(folder: Path, secrets: set[str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        for where, data in _texts(path):
            text = data.decode("utf-8", errors="replace")
            hits = {secret for secret in secrets if secret in text}
            if hits:
                found[f"{path.relative_to(folder)} ({where})"] = hits
    return found


def test_no_redacted_value_appears_anywhere_in_the_publication(dag_run, tiny) -> None:  # type: ignore[no-untyped-def]
    settings, _, interval, _ = dag_run
    store = Store(settings.data_root, settings.source_name)
    secrets = set().union(*(personal_values(release) for release in store.iter_all_releases(interval.key)))
    assert secrets, "the simulator gives buying units a responsible official"
    assert settings.publication_personal_data == "redact"
    for folder in (folder_of(dag_run), tiny[1]):
        assert _leaks(folder, secrets) == {}

    # The scan finds them when the policy keeps them: only in the OCDS packages, as the tables have no such column.
    keep = settings.model_copy(update={"data_root": tiny[0].data_root / "keep", "publication_personal_data": "keep"})
    warehouse = settings.data_root / "warehouse" / interval.key
    publishing.publish(keep, interval, store, warehouse)
    leaks = _leaks(keep.data_root / "publish" / interval.key, secrets)
    assert leaks and all(where.endswith(".jsonl.gz)") for where in leaks), sorted(leaks)


def test_datapackage_validates_with_frictionless(dag_run) -> None:  # type: ignore[no-untyped-def]
    """Frictionless's own checks: the descriptor, and every CSV resource against its Table Schema."""
    from frictionless import Package, Resource, validate

    folder = dag_run[0].data_root / "publish" / dag_run[2].key
    descriptor = jsonio.read_json(folder / "datapackage.json")
    report = Package.validate_descriptor(descriptor)
    assert report.valid, [error.message for task in report.tasks for error in task.errors][:5]
    tabular = [r for r in descriptor["resources"] if r["path"].endswith(".csv")]
    assert {"flags.csv", "checks.csv", "changes.csv"} <= {r["path"] for r in tabular}
    for resource in tabular:
        result = validate(Resource(resource, basepath=str(folder)))
        assert result.valid, (resource["path"], [e.message for e in result.tasks[0].errors[:3]])
