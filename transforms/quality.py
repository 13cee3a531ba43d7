"""Cross-table data-quality checks in Pelican's families, the quality gate, and the one call the pipeline makes.

The Great Expectations suites (``expectations/``) check each table on its own: keys, codelists, formats, ranges,
date order within a row, row counts. The checks here look across tables, in Pelican's families (REFERENCE §8):

- **coherence** — dates in order along the process (tender → award → signature), contract and award values of
  the same order of magnitude;
- **consistency** — the per-row counts (``award_count`` …) agree with the child tables;
- **reference** — contracts name an award of their own process, children name an existing parent, suppliers and
  tenderers are parties of their process;
- **uniqueness** — ocids, release ids within an ocid, tender ids across processes;
- **distribution** — one buyer or one value dominating suspiciously (Pelican's dataset checks, same thresholds).

Every check has an id, a family, a severity (``blocking`` stops publication, ``warning`` is reported), a
description and a result with the pass rate, the number failing and up to three example rows. Checks are SQL over
the tables registered in an in-memory DuckDB (Arrow tables or data frames, zero-copy); the SQL and every identifier
in it are constants of this module, and thresholds go in as parameters.

The pipeline calls :func:`check_tables`; it runs both the suites and these checks and applies :func:`gate`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds

from transforms import tables as table_module
from transforms.errors import ValidationFailed
from transforms.store import quiet_connect

SEVERITIES = ("blocking", "warning")
SOURCES = ("great_expectations", "quality")
EXAMPLES = 3
# An optional input: one row per release (columns ``ocid``, ``release_id``) for the release-id uniqueness check.
RELEASES = "releases"

# Sources mix date-only values (local midnight, REFERENCE §1.7) with timestamps, so two events on the same day can
# look out of order by hours. Date-order checks allow one day before they call an order broken.
DATE_TOLERANCE_DAYS = 1
# A contract worth less than a tenth or more than ten times its award is a units or capture error (pesos against
# thousands of pesos, a lost decimal point), not an amendment: LAASSP art. 52 caps amendments at 20% of the value,
# and even the simulator's planted increases stay under 1.8 times. Pelican's coherence checks likewise look for
# orders of magnitude rather than red-flag thresholds.
VALUE_RATIO_LOW = 0.1
VALUE_RATIO_HIGH = 10.0
# Pelican's distribution/buyer_repetition: the biggest buyer should hold more than 1% and less than 50% of the
# processes; fewer than 1,000 processes are too few to judge.
BUYER_SHARE_LOW = 0.01
BUYER_SHARE_HIGH = 0.5
BUYER_MIN_PROCESSES = 1000
# Pelican's distribution/value_repetition: the three most frequent (amount, currency) pairs should be fewer than 10%
# of the values. Pelican sets no minimum; under 100 values three values are already 3% and chance dominates.
VALUE_REPETITION_SHARE = 0.1
VALUE_REPETITION_TOP = 3
VALUE_REPETITION_MIN = 100


@dataclass(frozen=True)
class CheckResult:
    """The result of one check or expectation: what ran, on which table, how many rows failed, three examples."""

    check_id: str
    source: str
    family: str
    severity: str
    table: str
    description: str
    status: str  # passed, failed or skipped
    checked: int = 0
    failing: int = 0
    examples: tuple[dict[str, Any], ...] = ()
    observed: float | None = None
    threshold: float | None = None

    @property
    def pass_rate(self) -> float:
        """Share of checked rows that pass (1.0 when nothing was checked)."""
        return 1.0 - self.failing_share

    @property
    def failing_share(self) -> float:
        """Share of checked rows that fail (0.0 when nothing was checked)."""
        return min(1.0, self.failing / self.checked) if self.checked else 0.0

    @property
    def blocking_failure(self) -> bool:
        """Whether this result stops publication."""
        return self.status == "failed" and self.severity == "blocking"

    def describe(self) -> str:
        """Return one line naming the check, the table, the share failing and the examples."""
        share = f"{self.failing} of {self.checked} ({self.failing_share:.2%})"
        examples = "; ".join(json.dumps(e, ensure_ascii=False, default=str) for e in self.examples[:EXAMPLES])
        return f"{self.check_id} on {self.table}: {share} failing — {self.description}" + (
            f" Examples: {examples}" if examples else ""
        )

    def to_row(self) -> dict[str, Any]:
        """Return the result as an ``out_checks`` row."""
        return {
            "check_id": self.check_id,
            "source": self.source,
            "family": self.family,
            "severity": self.severity,
            "table_name": self.table,
            "description": self.description,
            "status": self.status,
            "checked_count": self.checked,
            "failing_count": self.failing,
            "pass_rate": self.pass_rate,
            "observed_value": self.observed,
            "threshold": self.threshold,
            "examples": json.dumps(list(self.examples[:EXAMPLES]), ensure_ascii=False, default=str),
        }


@dataclass(frozen=True)
class Outcome:
    """What a check function measured."""

    checked: int
    failing: int
    examples: tuple[dict[str, Any], ...] = ()
    observed: float | None = None
    skipped: bool = False


@dataclass(frozen=True)
class Check:
    """A cross-table check: its identity, the tables it reads, and the function that measures it."""

    check_id: str
    family: str
    severity: str
    description: str
    tables: tuple[str, ...]
    measure: Callable[[duckdb.DuckDBPyConnection], Outcome]
    threshold: float | None = None
    reason: str = field(default="", compare=False)
    # "process" checks look within each process's rows, so a night checks only the processes that changed;
    # "dataset" checks compare processes with each other and always read the whole snapshot.
    scope: str = "process"

    def run(self, con: duckdb.DuckDBPyConnection, available: set[str]) -> CheckResult:
        """Run the check; it is skipped when a table it reads is absent."""
        base: dict[str, Any] = {
            "check_id": self.check_id,
            "source": "quality",
            "family": self.family,
            "severity": self.severity,
            "table": self.tables[0],
            "description": self.description,
            "threshold": self.threshold,
        }
        if not set(self.tables) <= available:
            return CheckResult(**base, status="skipped")
        outcome = self.measure(con)
        status = "skipped" if outcome.skipped else ("failed" if outcome.failing else "passed")
        return CheckResult(
            **base,
            status=status,
            checked=outcome.checked,
            failing=outcome.failing,
            examples=outcome.examples,
            observed=outcome.observed,
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _fetch_dicts(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    cursor = con.execute(sql, list(params))
    columns = [d[0] for d in cursor.description]
    return [{c: _jsonable(v) for c, v in zip(columns, row, strict=True)} for row in cursor.fetchall()]


def rows_check(sql: str, params: Sequence[Any] = ()) -> Callable[[duckdb.DuckDBPyConnection], Outcome]:
    """Measure a row-level check: ``sql`` yields one row per row in scope with a boolean ``failing`` column."""

    def measure(con: duckdb.DuckDBPyConnection) -> Outcome:
        # ``sql`` is a constant of this module; only values go in as parameters.
        checked, failing = con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE failing) FROM ({sql})", list(params)
        ).fetchone() or (0, 0)
        examples = _fetch_dicts(
            con, f"SELECT * EXCLUDE (failing) FROM ({sql}) WHERE failing ORDER BY ALL LIMIT {EXAMPLES}", params
        )
        return Outcome(int(checked), int(failing), tuple(examples))

    return measure


# -- coherence --------------------------------------------------------------------------------------------------
AWARD_AFTER_TENDER = """
SELECT a.ocid, a.award_id, a.award_date, p.tender_start_date, p.tender_end_date,
       a.award_date < coalesce(p.tender_end_date, p.tender_start_date) - to_days(CAST(? AS INTEGER)) AS failing
FROM core_awards a JOIN core_contracting_processes p USING (ocid)
WHERE a.award_date IS NOT NULL AND coalesce(p.tender_end_date, p.tender_start_date) IS NOT NULL
"""
SIGNATURE_AFTER_AWARD = """
SELECT c.ocid, c.contract_id, c.award_id, a.award_date, c.date_signed,
       c.date_signed < a.award_date - to_days(CAST(? AS INTEGER)) AS failing
FROM core_contracts c JOIN core_awards a ON a.ocid = c.ocid AND a.award_id = c.award_id
WHERE c.date_signed IS NOT NULL AND a.award_date IS NOT NULL
"""
CONTRACT_AWARD_RATIO = """
SELECT c.ocid, c.contract_id, c.amount AS contract_amount, a.amount AS award_amount, c.currency,
       round(c.amount / a.amount, 4) AS ratio,
       c.amount / a.amount < ? OR c.amount / a.amount > ? AS failing
FROM core_contracts c JOIN core_awards a ON a.ocid = c.ocid AND a.award_id = c.award_id
WHERE c.amount IS NOT NULL AND a.amount > 0 AND c.currency IS NOT DISTINCT FROM a.currency
"""

# -- consistency: (check id, parent table, parent key, count column, child table) ---------------------------------
COUNTS: list[tuple[str, str, tuple[str, ...], str, str]] = [
    ("consistency.award_count", "core_contracting_processes", ("ocid",), "award_count", "core_awards"),
    ("consistency.contract_count", "core_contracting_processes", ("ocid",), "contract_count", "core_contracts"),
    ("consistency.bid_count", "core_contracting_processes", ("ocid",), "bid_count", "core_bids"),
    ("consistency.supplier_count", "core_awards", ("ocid", "award_id"), "supplier_count", "core_award_suppliers"),
    ("consistency.amendment_count", "core_contracts", ("ocid", "contract_id"), "amendment_count", "core_amendments"),
    (
        "consistency.transaction_count",
        "core_contracts",
        ("ocid", "contract_id"),
        "transaction_count",
        "core_transactions",
    ),
]


def _count_sql(parent: str, keys: tuple[str, ...], column: str, child: str) -> str:
    # Every identifier comes from COUNTS above, never from input.
    key_list = ", ".join(keys)
    join = " AND ".join(f"n.{k} IS NOT DISTINCT FROM p.{k}" for k in keys)
    return f"""
SELECT {", ".join(f"p.{k}" for k in keys)}, p.{column} AS declared, coalesce(n.child_rows, 0) AS child_rows,
       p.{column} IS DISTINCT FROM coalesce(n.child_rows, 0) AS failing
FROM {parent} p LEFT JOIN (SELECT {key_list}, count(*) AS child_rows FROM {child} GROUP BY ALL) n ON {join}
"""


# -- reference --------------------------------------------------------------------------------------------------
CONTRACT_AWARD = """
SELECT c.ocid, c.contract_id, c.award_id, a.award_id IS NULL AS failing
FROM core_contracts c LEFT JOIN (SELECT DISTINCT ocid, award_id FROM core_awards) a
  ON a.ocid = c.ocid AND a.award_id = c.award_id
"""
SUPPLIER_AWARD = """
SELECT s.ocid, s.award_id, s.supplier_id, a.award_id IS NULL AS failing
FROM core_award_suppliers s LEFT JOIN (SELECT DISTINCT ocid, award_id FROM core_awards) a
  ON a.ocid = s.ocid AND a.award_id = s.award_id
"""
AMENDMENT_CONTRACT = """
SELECT m.ocid, m.contract_id, m.amendment_id, c.contract_id IS NULL AS failing
FROM core_amendments m LEFT JOIN (SELECT DISTINCT ocid, contract_id FROM core_contracts) c
  ON c.ocid = m.ocid AND c.contract_id = m.contract_id
"""
TRANSACTION_CONTRACT = """
SELECT t.ocid, t.contract_id, t.transaction_id, c.contract_id IS NULL AS failing
FROM core_transactions t LEFT JOIN (SELECT DISTINCT ocid, contract_id FROM core_contracts) c
  ON c.ocid = t.ocid AND c.contract_id = t.contract_id
"""
PARTY = """
WITH refs AS (
    SELECT ocid, 'core_award_suppliers' AS referenced_from, supplier_id AS party_id FROM core_award_suppliers
    UNION ALL SELECT ocid, 'core_bids', tenderer_id FROM core_bids WHERE tenderer_id IS NOT NULL
    UNION ALL SELECT ocid, 'core_contracting_processes', buyer_id FROM core_contracting_processes
        WHERE buyer_id IS NOT NULL
)
SELECT r.ocid, r.referenced_from, r.party_id, o.party_id IS NULL AS failing
FROM refs r LEFT JOIN (SELECT DISTINCT ocid, party_id FROM core_organizations) o
  ON o.ocid = r.ocid AND o.party_id = r.party_id
"""
PROCESS = """
WITH children AS (
    SELECT ocid, 'core_awards' AS child_table FROM core_awards
    UNION ALL SELECT ocid, 'core_contracts' FROM core_contracts
    UNION ALL SELECT ocid, 'core_bids' FROM core_bids
    UNION ALL SELECT ocid, 'core_tender_items' FROM core_tender_items
    UNION ALL SELECT ocid, 'core_organizations' FROM core_organizations
)
SELECT c.ocid, c.child_table, p.ocid IS NULL AS failing
FROM children c LEFT JOIN (SELECT DISTINCT ocid FROM core_contracting_processes) p ON p.ocid = c.ocid
"""

# -- uniqueness -------------------------------------------------------------------------------------------------
OCID_UNIQUE = """
SELECT ocid, count(*) OVER (PARTITION BY ocid) AS occurrences, count(*) OVER (PARTITION BY ocid) > 1 AS failing
FROM core_contracting_processes
"""
RELEASE_ID_UNIQUE = """
SELECT ocid, release_id, count(*) OVER (PARTITION BY ocid, release_id) AS occurrences,
       count(*) OVER (PARTITION BY ocid, release_id) > 1 AS failing
FROM releases
"""
TENDER_ID_UNIQUE = """
SELECT tender_id, ocid, count(*) OVER (PARTITION BY tender_id) AS ocids,
       count(*) OVER (PARTITION BY tender_id) > 1 AS failing
FROM core_contracting_processes WHERE tender_id IS NOT NULL
"""


# -- distribution -----------------------------------------------------------------------------------------------
def buyer_repetition(con: duckdb.DuckDBPyConnection) -> Outcome:
    """Pelican's buyer repetition: the biggest buyer holds more than 1% and less than 50% of the processes."""
    total = (con.execute("SELECT count(*) FROM core_contracting_processes WHERE buyer_id IS NOT NULL").fetchone())[0]  # type: ignore[index]
    if total < BUYER_MIN_PROCESSES:
        return Outcome(int(total), 0, skipped=True)
    top = con.execute(
        "SELECT buyer_id, count(*) AS processes FROM core_contracting_processes WHERE buyer_id IS NOT NULL "
        "GROUP BY buyer_id ORDER BY processes DESC, buyer_id LIMIT 1"
    ).fetchone()
    assert top is not None
    share = top[1] / total
    if BUYER_SHARE_LOW < share < BUYER_SHARE_HIGH:
        return Outcome(int(total), 0, observed=share)
    examples = _fetch_dicts(
        con,
        f"SELECT ocid, buyer_id, buyer_name FROM core_contracting_processes WHERE buyer_id = ? "
        f"ORDER BY ocid LIMIT {EXAMPLES}",
        [top[0]],
    )
    return Outcome(int(total), int(top[1]), tuple(examples), observed=share)


VALUE_TABLES = {
    "distribution.tender_value_repetition": ("core_contracting_processes", "tender_amount", "tender_currency"),
    "distribution.award_value_repetition": ("core_awards", "amount", "currency"),
    "distribution.contract_value_repetition": ("core_contracts", "amount", "currency"),
}


def value_repetition(check_id: str) -> Callable[[duckdb.DuckDBPyConnection], Outcome]:
    """Pelican's value repetition: the three most frequent (amount, currency) pairs are under 10% of all values."""
    table, amount, currency = VALUE_TABLES[check_id]
    # Identifiers come from VALUE_TABLES, never from input.
    values = f"SELECT ocid, {amount} AS amount, {currency} AS currency FROM {table} WHERE {amount} IS NOT NULL"

    def measure(con: duckdb.DuckDBPyConnection) -> Outcome:
        total = con.execute(f"SELECT count(*) FROM ({values})").fetchone()[0]  # type: ignore[index]
        if total < VALUE_REPETITION_MIN:
            return Outcome(int(total), 0, skipped=True)
        top = con.execute(
            f"SELECT amount, currency, count(*) AS n FROM ({values}) GROUP BY ALL ORDER BY n DESC, amount LIMIT ?",
            [VALUE_REPETITION_TOP],
        ).fetchall()
        repeated = sum(row[2] for row in top)
        share = repeated / total
        if share < VALUE_REPETITION_SHARE:
            return Outcome(int(total), 0, observed=share)
        examples = tuple(
            {"amount": row[0], "currency": row[1], "occurrences": row[2], "share": round(row[2] / total, 4)}
            for row in top
        )
        return Outcome(int(total), int(repeated), examples, observed=share)

    return measure


# -- the registry -----------------------------------------------------------------------------------------------
REGISTRY: dict[str, Check] = {}


def register(check: Check) -> Check:
    """Add a check to the registry (ids are unique, severities known)."""
    if check.check_id in REGISTRY:
        raise ValueError(f"check {check.check_id} registered twice")
    if check.severity not in SEVERITIES:
        raise ValueError(f"check {check.check_id}: unknown severity {check.severity!r}")
    REGISTRY[check.check_id] = check
    return check


register(
    Check(
        "coherence.award_after_tender",
        "coherence",
        "blocking",
        "An award is not dated before its tender period ends (or starts, when it has no end), with one day of slack.",
        ("core_awards", "core_contracting_processes"),
        rows_check(AWARD_AFTER_TENDER, [DATE_TOLERANCE_DAYS]),
        threshold=DATE_TOLERANCE_DAYS,
        reason="The fallo follows the opening of bids by law (LAASSP art. 37); an award before its tender is a date "
        "parsing or mapping error (a day/month swap) that would corrupt every decision-period indicator.",
    )
)
register(
    Check(
        "coherence.signature_after_award",
        "coherence",
        "warning",
        "A contract is not signed before the award it implements, with one day of slack.",
        ("core_contracts", "core_awards"),
        rows_check(SIGNATURE_AFTER_AWARD, [DATE_TOLERANCE_DAYS]),
        threshold=DATE_TOLERANCE_DAYS,
        reason="Breaks no key or reference; CompraNet captures some fallo dates after the contract, so it is "
        "feedback for the publisher rather than a reason to stop publication.",
    )
)
register(
    Check(
        "coherence.contract_award_value_ratio",
        "coherence",
        "warning",
        f"A contract's value is between {VALUE_RATIO_LOW} and {VALUE_RATIO_HIGH} times its award's value "
        "(same currency).",
        ("core_contracts", "core_awards"),
        rows_check(CONTRACT_AWARD_RATIO, [VALUE_RATIO_LOW, VALUE_RATIO_HIGH]),
        threshold=VALUE_RATIO_HIGH,
        reason="Outside a factor of ten the values disagree in units, not in amendments (see VALUE_RATIO_*).",
    )
)
for _check_id, _parent, _keys, _column, _child in COUNTS:
    register(
        Check(
            _check_id,
            "consistency",
            "blocking",
            f"`{_parent}.{_column}` equals the number of rows of `{_child}` for the same {' and '.join(_keys)}.",
            (_parent, _child),
            rows_check(_count_sql(_parent, _keys, _column, _child)),
            reason="Both come from the same compiled release; a difference means rows were lost or duplicated.",
        )
    )
register(
    Check(
        "reference.contract_award",
        "reference",
        "blocking",
        "Every contract's `award_id` names an award of the same process (OCDS `contracts/awardID`).",
        ("core_contracts", "core_awards"),
        rows_check(CONTRACT_AWARD),
        reason="OCDS requires awardID to resolve within the release; analyses join contracts to awards on it.",
    )
)
register(
    Check(
        "reference.award_supplier_award",
        "reference",
        "blocking",
        "Every award supplier row belongs to an award of the same process.",
        ("core_award_suppliers", "core_awards"),
        rows_check(SUPPLIER_AWARD),
    )
)
register(
    Check(
        "reference.amendment_contract",
        "reference",
        "blocking",
        "Every amendment belongs to a contract of the same process.",
        ("core_amendments", "core_contracts"),
        rows_check(AMENDMENT_CONTRACT),
    )
)
register(
    Check(
        "reference.transaction_contract",
        "reference",
        "blocking",
        "Every transaction belongs to a contract of the same process.",
        ("core_transactions", "core_contracts"),
        rows_check(TRANSACTION_CONTRACT),
    )
)
register(
    Check(
        "reference.party",
        "reference",
        "blocking",
        "Every supplier, tenderer and buyer id is a party of its process (OCDS organization references).",
        ("core_award_suppliers", "core_bids", "core_contracting_processes", "core_organizations"),
        rows_check(PARTY),
        reason="OCDS requires each organization reference to name an entry of `parties`; resolution and every "
        "supplier-level indicator read the party.",
    )
)
register(
    Check(
        "reference.process",
        "reference",
        "blocking",
        "Every award, contract, bid, item and party row belongs to a process in `core_contracting_processes`.",
        ("core_awards", "core_contracts", "core_bids", "core_tender_items", "core_organizations"),
        rows_check(PROCESS),
    )
)
register(
    Check(
        "uniqueness.ocid",
        "uniqueness",
        "blocking",
        "Every ocid appears once in `core_contracting_processes` (one compiled release per process).",
        ("core_contracting_processes",),
        rows_check(OCID_UNIQUE),
        scope="dataset",
    )
)
register(
    Check(
        "uniqueness.release_id_within_ocid",
        "uniqueness",
        "blocking",
        "Release ids are unique within their ocid (the optional `releases` input: ocid, release_id).",
        (RELEASES,),
        rows_check(RELEASE_ID_UNIQUE),
        reason="Merging keeps one release per id; a repeated id silently drops a stage event.",
    )
)
register(
    Check(
        "uniqueness.tender_id",
        "uniqueness",
        "warning",
        "One tender id (expediente) belongs to one process.",
        ("core_contracting_processes",),
        rows_check(TENDER_ID_UNIQUE),
        reason="A repeated expediente means a procedure split across ocids (e.g. a blank procedure number, "
        "REFERENCE §1.9); the data stays usable, the publisher should hear about it.",
        scope="dataset",
    )
)
register(
    Check(
        "distribution.buyer_repetition",
        "distribution",
        "warning",
        f"The biggest buyer holds more than {BUYER_SHARE_LOW:.0%} and less than {BUYER_SHARE_HIGH:.0%} of the "
        f"processes (Pelican; needs {BUYER_MIN_PROCESSES} processes).",
        ("core_contracting_processes",),
        buyer_repetition,
        threshold=BUYER_SHARE_HIGH,
        reason="Pelican's thresholds: one dominant buyer (or none above 1%) points at a broken buyer identifier.",
        scope="dataset",
    )
)
for _check_id, (_table, _amount, _currency) in VALUE_TABLES.items():
    register(
        Check(
            _check_id,
            "distribution",
            "warning",
            f"The {VALUE_REPETITION_TOP} most frequent values of `{_table}.{_amount}` are under "
            f"{VALUE_REPETITION_SHARE:.0%} of its values (Pelican; needs {VALUE_REPETITION_MIN} values).",
            (_table,),
            value_repetition(_check_id),
            threshold=VALUE_REPETITION_SHARE,
            reason="Pelican's threshold: repeated values are placeholders (0, 1, 999999) rather than prices.",
            scope="dataset",
        )
    )


# -- running, gate, results -----------------------------------------------------------------------------------
class QualityGateFailed(ValidationFailed):
    """A blocking check or expectation failed; ``summary`` and ``results`` hold the whole run."""

    def __init__(self, message: str, results: list[CheckResult], summary: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.results = results
        self.summary = summary


def _registerable(tables: Mapping[str, Any]) -> dict[str, Any]:
    """Keep the inputs whose names the checks know: table names come from our schemas, never from input."""
    known = set(table_module.table_schemas()) | {RELEASES}
    return {name: data for name, data in tables.items() if name in known}


def _register(con: duckdb.DuckDBPyConnection, name: str, data: Any) -> None:
    """Make an input a relation: an Arrow dataset of Parquet files is read by DuckDB's own Parquet reader (over twice
    as fast as through Arrow on a whole warehouse), anything else is registered as it is."""
    if isinstance(data, ds.FileSystemDataset) and isinstance(data.format, ds.ParquetFileFormat) and data.files:
        con.read_parquet(data.files, hive_partitioning=False).create_view(name)
    else:
        con.register(name, data)


def run_checks(
    tables: Mapping[str, pa.Table | Any],
    checks: Iterable[Check] | None = None,
    snapshot: Mapping[str, Any] | None = None,
) -> list[CheckResult]:
    """Run the cross-table checks (all registered ones by default) over Arrow tables, datasets or data frames.

    Process-scope checks read ``tables`` (e.g. the rows of the processes that changed tonight); dataset-scope checks
    read ``snapshot`` (e.g. Arrow datasets over the whole warehouse), which defaults to ``tables``.
    """
    chosen = list(checks if checks is not None else REGISTRY.values())
    results: dict[str, CheckResult] = {}
    for scope, inputs in (("process", tables), ("dataset", snapshot if snapshot is not None else tables)):
        registerable = _registerable(inputs)
        with quiet_connect() as con:
            for name, data in registerable.items():
                _register(con, name, data)
            for check in chosen:
                if check.scope == scope:
                    results[check.check_id] = check.run(con, set(registerable))
    return [results[check.check_id] for check in chosen]


def gate(results: Iterable[CheckResult]) -> list[CheckResult]:
    """Raise :class:`ValidationFailed` when a blocking check failed; return the failed warnings for the report."""
    results = list(results)
    blocking = [r for r in results if r.blocking_failure]
    if blocking:
        lines = "\n".join(f"- {r.describe()}" for r in blocking)
        raise QualityGateFailed(f"{len(blocking)} blocking data-quality check(s) failed:\n{lines}", results)
    return [r for r in results if r.status == "failed"]


def results_table(results: Iterable[CheckResult]) -> pa.Table:
    """Return the results as the ``out_checks`` Arrow table, ordered by check id."""
    rows = sorted((r.to_row() for r in results), key=lambda row: row["check_id"])
    return table_module.to_arrow("out_checks", rows)


def summarize(results: Sequence[CheckResult]) -> dict[str, Any]:
    """Return the run-report summary of check results."""

    def brief(result: CheckResult) -> dict[str, Any]:
        return {
            "check_id": result.check_id,
            "table": result.table,
            "failing": result.failing,
            "checked": result.checked,
            "failing_share": round(result.failing_share, 6),
        }

    return {
        "checks_run": sum(1 for r in results if r.status != "skipped"),
        "passed": sum(1 for r in results if r.status == "passed"),
        "failed": sum(1 for r in results if r.status == "failed"),
        "skipped": sum(1 for r in results if r.status == "skipped"),
        "warnings": [brief(r) for r in results if r.status == "failed" and r.severity == "warning"],
        "blocking_failures": [brief(r) for r in results if r.blocking_failure],
    }


def check_tables(
    tables: Mapping[str, pa.Table | Any],
    expected_counts: Mapping[str, int],
    data_docs_dir: Path | None = None,
    *,
    run_name: str = "semaforo",
    run_time: dt.datetime | None = None,
    raise_on_blocking: bool = True,
    snapshot: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the expectation suites and the cross-table checks, render Data Docs, and apply the gate.

    ``tables`` maps table names to Arrow tables (or data frames); ``expected_counts`` maps table names to the row
    counts the previous step promised (e.g. ``core_contracting_processes`` → compiled releases); ``run_name`` and
    ``run_time`` label the Data Docs (pass the interval key and end, so re-runs render the same). Returns the
    summary for the run report, plus ``results``: every result as an ``out_checks`` row. When a blocking check
    fails it raises :class:`QualityGateFailed` (a :class:`ValidationFailed`) whose ``summary`` is the same dict.
    Writes nothing but the Data Docs folder. With ``snapshot`` (whole tables, e.g. Arrow datasets), the suites and
    process-scope checks read ``tables`` (the rows that changed) and dataset-scope checks read the snapshot.
    """
    from expectations.suites import run_suites

    started = time.perf_counter()
    expectation_results = run_suites(
        tables, expected_counts, data_docs_dir=data_docs_dir, run_name=run_name, run_time=run_time
    )
    suites_seconds = time.perf_counter() - started
    check_results = run_checks(tables, snapshot=snapshot)
    results = [*expectation_results, *check_results]
    summary = {
        **summarize(results),
        "expectations": len(expectation_results),
        "quality_checks": len(check_results),
        "data_docs": str(data_docs_dir / "index.html") if data_docs_dir else None,
        "suites_seconds": round(suites_seconds, 3),
        "checks_seconds": round(time.perf_counter() - started - suites_seconds, 3),
        "results": [r.to_row() for r in sorted(results, key=lambda r: r.check_id)],
    }
    if raise_on_blocking:
        try:
            gate(results)
        except QualityGateFailed as exc:
            exc.summary = summary
            raise
    return summary
