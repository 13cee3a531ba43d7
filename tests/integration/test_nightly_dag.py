"""Run the real nightly DAG (``dag.test()``) for one interval on tiny simulated data and check every layer."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import duckdb

from transforms import jsonio
from transforms.airflow_env import airflow_env
from transforms.ocds.validate import Validator
from transforms.publish import sha256
from transforms.store import Store


def test_run_report_reconciles_counts(dag_run) -> None:  # type: ignore[no-untyped-def]
    settings, universe, interval, _ = dag_run
    report = jsonio.read_json(settings.data_root / "reports" / interval.key / "run.json")
    assert report["complete"]
    steps = report["steps"]
    expected = sum(
        1
        for rows in universe.records.values()
        for r in rows
        if interval.contains(dt.datetime.fromisoformat(r["actualizado"]))
    )
    assert steps["extract"]["records_in"] == expected > 0
    normalize = steps["normalize"]
    assert normalize["records_in"] == normalize["records_mapped"] + normalize["records_quarantined"]
    assert steps["validate"]["errors"] == 0


def test_published_packages_validate_against_the_official_schema(dag_run) -> None:  # type: ignore[no-untyped-def]
    settings, _, interval, _ = dag_run
    folder = settings.data_root / "publish" / interval.key
    assert (settings.data_root / "publish" / "latest").resolve() == folder.resolve()
    records = Validator(settings, "record-package-schema.json").check(jsonio.read_jsonl(folder / "records.jsonl.gz"))
    releases = Validator(settings, "release-package-schema.json").check(
        jsonio.read_jsonl(folder / "releases.jsonl.gz")
    )
    assert records.ok, records.format()
    assert releases.ok, releases.format()
    assert records.documents >= 1 and releases.documents >= 1


def test_checksums_and_datapackage_describe_every_file(dag_run) -> None:  # type: ignore[no-untyped-def]
    settings, _, interval, _ = dag_run
    folder = settings.data_root / "publish" / interval.key
    sums = dict(reversed(line.split("  ")) for line in (folder / "SHA256SUMS").read_text().splitlines())
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != "SHA256SUMS"}
    assert {"records.jsonl.gz", "releases.jsonl.gz", "semaforo.duckdb", "data_dictionary.md", "checks.csv"} <= files
    assert "data_docs/index.html" in files
    assert set(sums) == files
    for name, digest in sums.items():
        assert sha256(folder / name) == digest
    package = jsonio.read_json(folder / "datapackage.json")
    paths = {r["path"]: r for r in package["resources"]}
    assert set(paths) == files - {"datapackage.json"}
    for path, resource in paths.items():
        assert resource["hash"] == f"sha256:{sums[path]}"
        assert resource["bytes"] == (folder / path).stat().st_size


def test_duckdb_tables_hold_the_expected_rows(dag_run) -> None:  # type: ignore[no-untyped-def]
    settings, _, interval, _ = dag_run
    compiled = list(Store(settings.data_root, settings.source_name).iter_compiled(interval.key))
    bids = sum(len((c.get("bids") or {}).get("details", [])) for c in compiled)
    awards = sum(len(c.get("awards", [])) for c in compiled)
    contracts = sum(len(c.get("contracts", [])) for c in compiled)
    database = settings.data_root / "publish" / interval.key / "semaforo.duckdb"
    with duckdb.connect(str(database), read_only=True) as con:

        def count(table: str) -> int:
            return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]

        assert count("core_contracting_processes") == len(compiled) > 0
        assert count("core_bids") == bids > 0
        assert count("core_awards") == awards
        assert count("core_contracts") == contracts
        assert con.execute("SELECT count(DISTINCT ocid) FROM core_contracting_processes").fetchone()[0] == len(
            compiled
        )


def test_r018_flags_exactly_the_planted_single_bids(dag_run) -> None:  # type: ignore[no-untyped-def]
    settings, _, interval, planted = dag_run
    # Only this night was landed, so the planted single bids published tonight are exactly what R018 can see.
    tonight = {
        f"{settings.ocid_prefix}-{g['numero_procedimiento']}"
        for g in planted
        if interval.contains(dt.datetime.fromisoformat(g["updated"]))
    }
    database = settings.data_root / "publish" / interval.key / "semaforo.duckdb"
    with duckdb.connect(str(database), read_only=True) as con:
        flagged = {row[0] for row in con.execute("SELECT ocid FROM out_flags WHERE indicator = 'R018'").fetchall()}
    assert tonight, "the fixture planted no single bid in this interval"
    assert flagged == tonight


def test_airflow_lists_no_import_errors(dag_run) -> None:  # type: ignore[no-untyped-def]
    airflow = str(Path(sys.executable).parent / "airflow")
    env = airflow_env(dag_run[0])
    parsed = subprocess.run([airflow, "dags", "reserialize"], env=env, capture_output=True, text=True, check=False)
    assert parsed.returncode == 0, parsed.stderr[-2000:]
    listed = subprocess.run(
        [airflow, "dags", "list-import-errors", "-o", "json"], env=env, capture_output=True, text=True, check=False
    )
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert listed.stdout.strip() in ("[]", "No data found", ""), listed.stdout
    dags = subprocess.run(
        [airflow, "dags", "list", "-o", "json"], env=env, capture_output=True, text=True, check=False
    )
    assert "compranet_nightly" in dags.stdout and "ocds_pdn_s6_shcp" in dags.stdout
