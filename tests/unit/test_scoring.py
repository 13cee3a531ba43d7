"""Scoring in two halves: observations are per process and free of settings; deciding over them is score_all.

The universe is ``test_evaluation``'s (``models.evaluation.build_universe`` is cached), so the two files share a build.
"""

from __future__ import annotations

import gzip
import tracemalloc
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from models import evaluation
from models.indicators import IndicatorError, IndicatorSettings, decide, run, run_all
from models.indicators.cardinal import results
from models.scoring import OBSERVATION_SCHEMAS, OUTPUTS, observe, score_all, score_observed
from transforms import jsonio
from transforms.cli import main

PROCEDURES, SEED = 6000, 11


@pytest.fixture(scope="module")
def built() -> evaluation.Built:
    return evaluation.build_universe(PROCEDURES, SEED)


@pytest.fixture(scope="module")
def observed(built: evaluation.Built) -> dict[str, pa.Table]:
    return observe(built.compiled)


def views(con: duckdb.DuckDBPyConnection, folder: Path, tables: Mapping[str, pa.Table]) -> None:
    """Write tables as Parquet and give the connection a view of each, as the pipeline does."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        pq.write_table(table, folder / f"{name}.parquet")
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{folder / name}.parquet')")


def by_process(table: pa.Table) -> dict[str, list[tuple[Any, ...]]]:
    """Return a table's rows by ocid, in their order."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    for row in table.to_pylist():
        found.setdefault(row["ocid"], []).append(tuple(row.values()))
    return found


def test_observation_tables_have_their_schemas(observed: dict[str, pa.Table]) -> None:
    assert set(observed) == set(OBSERVATION_SCHEMAS)
    for name, schema in OBSERVATION_SCHEMAS.items():
        assert name.startswith("obs_") and schema.field("ocid").type == pa.string()
        assert observed[name].schema.equals(schema, check_metadata=True)
        assert schema.empty_table().num_rows == 0
    # Rows only where there is something to observe: most processes have no single bid, every one has a process row.
    assert observed["obs_processes"].num_rows == PROCEDURES > observed["obs_single_bids"].num_rows > 0


def test_score_observed_equals_score_all(
    built: evaluation.Built, observed: dict[str, pa.Table], tmp_path: Path
) -> None:
    expected = score_all(built.compiled, built.tables)
    with duckdb.connect() as con:
        views(con, tmp_path / "core", built.tables)
        views(con, tmp_path / "observations", observed)
        got = score_observed(con)
        # Deciding leaves nothing behind on the connection.
        assert {name for (name,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()} == {
            *built.tables,
            *observed,
        }
    assert tuple(got) == OUTPUTS
    for name in OUTPUTS:
        assert got[name].num_rows > 0, name
        assert got[name].equals(expected[name]), name
    # Competitiveness computed beside the indicators, on a database of its own, as the pipeline does.
    with duckdb.connect() as con, duckdb.connect() as beside:
        for each in (con, beside):
            views(each, tmp_path / "core", built.tables)
            views(each, tmp_path / "observations", observed)
        alongside = score_observed(con, beside=beside)
    for name in OUTPUTS:
        assert alongside[name].equals(expected[name]), name


def test_observations_are_a_pure_function_of_each_process(
    built: evaluation.Built, observed: dict[str, pa.Table]
) -> None:
    subset = built.compiled[::7]
    alone = observe(reversed(subset))
    wanted = {release["ocid"] for release in subset}
    for name, table in observed.items():
        whole = {ocid: rows for ocid, rows in by_process(table).items() if ocid in wanted}
        assert by_process(alone[name]) == whole, name


def test_settings_change_decisions_never_observations(built: evaluation.Built, observed: dict[str, pa.Table]) -> None:
    from models.indicators.r003 import whole_days

    invitation, excluded = "Invitación a Cuando Menos 3 Personas", "Licitación Pública"
    variants = {
        "defaults": IndicatorSettings(),
        "options": IndicatorSettings(indicators={"R003": {"threshold": 30}, "R018": {}, "R040": {"threshold": 0.2}}),
        "globals": IndicatorSettings(
            currency="USD", exclusions=frozenset({excluded}), indicators={"R003": {}, "R024": {"threshold": 1}}
        ),
        "price comparisons": IndicatorSettings(
            price_comparison_procurement_methods=frozenset({invitation}), indicators={"R028": {}}
        ),
    }
    copies = {name: table.slice() for name, table in observed.items()}
    with duckdb.connect() as con:
        for name, table in observed.items():
            con.register(name, table)
        # One set of observations serves every setting.
        reports = {name: decide(con, settings) for name, settings in variants.items()}
    shaped = {name: results(report, meta=False) for name, report in reports.items()}
    assert len({repr(found) for found in shaped.values()}) == len(variants)
    assert all(observed[name].equals(table) for name, table in copies.items())

    def flagged(variant: str, code: str) -> set[str]:
        return {key for group, key in reports[variant].outcomes[code].results if group == "OCID"}

    def tender(release: dict[str, Any]) -> dict[str, Any]:
        return release.get("tender") or {}

    # Options: R003 at 30 days flags exactly the periods under 30 whole days, counted from the releases themselves.
    periods = {
        release["ocid"]: whole_days(period["startDate"], period["endDate"])
        for release in built.compiled
        if tender(release).get("status") != "cancelled"
        and "startDate" in (period := tender(release).get("tenderPeriod", {}))
    }
    assert flagged("options", "R003") == {ocid for ocid, days in periods.items() if days is not None and days < 30}
    assert flagged("options", "R003") > flagged("defaults", "R003")
    # Global rules: the main currency is the setting's, and excluded processes are never flagged.
    details = {release["ocid"]: tender(release).get("procurementMethodDetails") for release in built.compiled}
    assert reports["globals"].currency == "USD" and not reports["globals"].outcomes["R024"].results
    assert flagged("globals", "R003") == {o for o in flagged("defaults", "R003") if details[o] != excluded}
    # Price comparisons: only invitations' identical bids count.
    assert flagged("price comparisons", "R028") == {o for o in flagged("defaults", "R028") if details[o] == invitation}
    assert flagged("price comparisons", "R028")


def test_an_ocid_observed_twice_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    twice = [{"ocid": "A", "tender": {}}, {"ocid": "B"}, {"ocid": "A", "tender": {"numberOfTenderers": 1}}]
    with pytest.raises(IndicatorError, match="'A' is observed 2 times"):
        run(twice)
    path = tmp_path / "twice.jsonl"
    jsonio.write_jsonl(path, twice)
    assert main(["indicators", str(path)]) == 2
    assert "observed 2 times" in capsys.readouterr().err


def _padded(count: int) -> Iterator[dict[str, Any]]:
    """Yield processes of ~50 kB each (a long description), one at a time."""
    for i in range(count):
        yield {
            "ocid": f"ocds-big-{i:05d}",
            "tender": {"numberOfTenderers": 1, "procurementMethod": "open", "description": "x" * 50_000},
        }


def test_observing_streams_in_bounded_memory() -> None:
    tracemalloc.start()
    try:
        report = run(_padded(2000), IndicatorSettings(indicators={"R018": {}}))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(report.outcomes["R018"].results) == 2000
    # 100 MB went through; what stays is a few small facts per process, never the releases.
    assert peak < 15_000_000, f"peak {peak / 1e6:.1f} MB"


def test_cli_streams_a_gzip_file(built: evaluation.Built, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    compiled = built.compiled[:1500]
    path = tmp_path / "compiled.jsonl.gz"
    with gzip.open(path, "wb") as fh:
        for release in compiled:
            fh.write(jsonio.dumps(release) + b"\n")
    assert main(["indicators", str(path)]) == 0
    rows = [jsonio.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows and rows == run_all(compiled)
    assert main(["indicators", "--format", "cardinal", str(path)]) == 0
    assert jsonio.loads(capsys.readouterr().out) == results(run(compiled))
