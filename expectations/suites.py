"""Great Expectations suites for every table, built in code from the table schemas (GX 1.x, validated as pandas).

One builder keyed by table: :func:`build_suite` reads the table's schema (``schemas/tables/<table>.json``) and
returns plain :class:`ExpectationSpec` records — keys not null and unique (``primaryKey``), codelists
(``constraints.enum``), formats (``constraints.pattern``), amount bounds for every ``amount``/``*_amount`` column,
date order within a row, and the row count the previous step promised. Specs are plain data, so building and
testing a suite needs no GX import; :class:`SuiteRunner` turns them into GX expectations in an ephemeral context.

GX's SQL data source gives wrong results on DuckDB (REFERENCE §9.3), so tables go in as pandas data frames, and
``great_expectations`` (≈3 s to import) is only imported inside the functions that run it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transforms.quality import CheckResult
from transforms.tables import table_schemas

# Amount bounds (MXN). Negative amounts cannot be mapped (the mapping quarantines them), so one in a table is a bug.
AMOUNT_MIN = 0.0
# RUBLI rejects amounts above MXN 100bn as capture errors (REFERENCE §1.9): no single federal contract comes near
# it (the whole 2024 federal procurement spend is of the order of MXN 1 trillion), so publishing one would distort
# every sum and average downstream.
AMOUNT_REJECT = 100e9
# RUBLI flags amounts above MXN 10bn for review (REFERENCE §1.9); a handful of real contracts (large works) exceed
# it, so it is a warning.
AMOUNT_FLAG = 10e9
# CompraNet's first records are from 2002 (RUBLI structure A); year 0 means the process carries no date at all.
YEAR_MIN = 2002
# An Arrow dataset with more rows than this is validated one file at a time (memory holds one year of one table).
BATCH_ROWS = 200_000  # 1M rows of core_contracting_processes in pandas took check_tables to 5.6 GB

# Date pairs (earlier, later) that must be in order within one row. Blocking: the two come from one source record,
# so a reversal is a parsing or mapping error, and the decision-period and duration indicators read them.
DATE_ORDER: dict[str, list[tuple[str, str]]] = {
    "core_contracting_processes": [("tender_start_date", "tender_end_date")],
    "core_contracts": [("start_date", "end_date")],
}


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation as plain data: which GX expectation, its arguments, and how to report it."""

    check_id: str
    family: str
    severity: str
    table: str
    description: str
    expectation: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    columns: tuple[str, ...] = ()
    threshold: float | None = None


def _is_amount(name: str) -> bool:
    return name == "amount" or name.endswith("_amount")


def build_suite(table: str, expected_rows: int | None = None) -> list[ExpectationSpec]:
    """Return the expectations of one table, derived from its schema (and the expected row count, if known)."""
    schema = table_schemas()[table]
    names = [f["name"] for f in schema["fields"]]
    key = list(schema.get("primaryKey") or [])
    specs = [
        ExpectationSpec(
            f"{table}.columns",
            "format",
            "blocking",
            table,
            "The columns are exactly the schema's, in order.",
            "ExpectTableColumnsToMatchOrderedList",
            {"column_list": names},
        )
    ]
    for column in key:
        specs.append(
            ExpectationSpec(
                f"{table}.key_not_null.{column}",
                "coverage",
                "blocking",
                table,
                f"Key column `{column}` is never null.",
                "ExpectColumnValuesToNotBeNull",
                {"column": column},
                (column,),
            )
        )
    if len(key) == 1:
        specs.append(
            ExpectationSpec(
                f"{table}.key_unique",
                "uniqueness",
                "blocking",
                table,
                f"Key `{key[0]}` is unique.",
                "ExpectColumnValuesToBeUnique",
                {"column": key[0]},
            )
        )
    elif key:
        specs.append(
            ExpectationSpec(
                f"{table}.key_unique",
                "uniqueness",
                "blocking",
                table,
                f"Key ({', '.join(key)}) is unique.",
                "ExpectCompoundColumnsToBeUnique",
                {"column_list": key},
            )
        )
    for f in schema["fields"]:
        column, constraints = f["name"], f.get("constraints") or {}
        if "enum" in constraints:
            specs.append(
                ExpectationSpec(
                    f"{table}.codelist.{column}",
                    "codelist",
                    "blocking",
                    table,
                    f"`{column}` is one of {', '.join(constraints['enum'])}.",
                    "ExpectColumnValuesToBeInSet",
                    {"column": column, "value_set": list(constraints["enum"])},
                    (column,),
                )
            )
        if "pattern" in constraints:
            specs.append(
                ExpectationSpec(
                    f"{table}.format.{column}",
                    "format",
                    "blocking",
                    table,
                    f"`{column}` matches `{constraints['pattern']}`.",
                    "ExpectColumnValuesToMatchRegex",
                    {"column": column, "regex": constraints["pattern"]},
                    (column,),
                )
            )
        if f["type"] == "number" and _is_amount(column):
            specs += [
                ExpectationSpec(
                    f"{table}.amount_non_negative.{column}",
                    "range",
                    "blocking",
                    table,
                    f"`{column}` is not negative.",
                    "ExpectColumnValuesToBeBetween",
                    {"column": column, "min_value": AMOUNT_MIN},
                    (column,),
                    AMOUNT_MIN,
                ),
                ExpectationSpec(
                    f"{table}.amount_rejected.{column}",
                    "range",
                    "blocking",
                    table,
                    f"`{column}` is at most MXN 100bn (RUBLI rejects larger amounts as capture errors).",
                    "ExpectColumnValuesToBeBetween",
                    {"column": column, "max_value": AMOUNT_REJECT},
                    (column,),
                    AMOUNT_REJECT,
                ),
                ExpectationSpec(
                    f"{table}.amount_implausible.{column}",
                    "range",
                    "warning",
                    table,
                    f"`{column}` is at most MXN 10bn (RUBLI flags larger amounts for review).",
                    "ExpectColumnValuesToBeBetween",
                    {"column": column, "max_value": AMOUNT_FLAG},
                    (column,),
                    AMOUNT_FLAG,
                ),
            ]
    if "year" in names:
        specs.append(
            ExpectationSpec(
                f"{table}.year_range",
                "range",
                "warning",
                table,
                f"`year` is {YEAR_MIN} or later (0 means the process has no date).",
                "ExpectColumnValuesToBeBetween",
                {"column": "year", "min_value": YEAR_MIN},
                ("year",),
                YEAR_MIN,
            )
        )
    for earlier, later in DATE_ORDER.get(table, []):
        specs.append(
            ExpectationSpec(
                f"{table}.date_order.{earlier}.{later}",
                "coherence",
                "blocking",
                table,
                f"`{earlier}` is not after `{later}`.",
                "ExpectColumnPairValuesAToBeGreaterThanB",
                {"column_A": later, "column_B": earlier, "or_equal": True, "ignore_row_if": "either_value_is_missing"},
                (earlier, later),
            )
        )
    if expected_rows is not None:
        specs.append(
            ExpectationSpec(
                f"{table}.row_count",
                "reconciliation",
                "blocking",
                table,
                f"The table has {expected_rows} rows, as the previous step reported.",
                "ExpectTableRowCountToEqual",
                {"value": expected_rows},
                threshold=float(expected_rows),
            )
        )
    return specs


def _add(total: CheckResult | None, part: CheckResult) -> CheckResult:
    """Add the result of one file of a table to the results of the files before it."""
    if total is None:
        return part
    return dataclasses.replace(
        total,
        status="failed" if "failed" in (total.status, part.status) else total.status,
        checked=total.checked + part.checked,
        failing=total.failing + part.failing,
        examples=(total.examples + part.examples)[:3],
        observed=total.observed if total.observed is not None else part.observed,
    )


def _plain(value: Any) -> Any:
    """A JSON-friendly Python value for a data frame cell."""
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        return None if str(value) == "NaT" else value.isoformat()
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _raised(info: Any) -> str | None:
    """The exception message of a GX result that raised (``exception_info`` is flat or keyed by metric), else None."""
    if not isinstance(info, dict):
        return None
    if "raised_exception" in info:
        return str(info.get("exception_message")) if info.get("raised_exception") else None
    messages = [_raised(value) for value in info.values()]
    return next((m for m in messages if m is not None), None)


class SuiteRunner:
    """One ephemeral GX context: validate tables against their suites, then render Data Docs for that run."""

    def __init__(self) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self._gx = gx
        self.context = gx.get_context(mode="ephemeral")
        # Progress bars write to stderr for every expectation; task logs do not need them.
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.source = self.context.data_sources.add_pandas("semaforo")

    def validate(
        self,
        table: str,
        frame: Any,
        specs: list[ExpectationSpec],
        run_name: str = "semaforo",
        run_time: dt.datetime | None = None,
        name: str | None = None,
    ) -> list[CheckResult]:
        """Validate one data frame against its specs; return one result per spec.

        ``name`` names the asset, suite and validation (default: the table), e.g. one batch of a large table.
        """
        import great_expectations.expectations as gxe
        from great_expectations.core.run_identifier import RunIdentifier

        gx = self._gx
        name = name or table
        batch = self.source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("all")
        suite = self.context.suites.add(gx.ExpectationSuite(name=name))
        for spec in specs:
            suite.add_expectation(getattr(gxe, spec.expectation)(**spec.kwargs, meta={"check_id": spec.check_id}))
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch, suite=suite)
        )
        outcome = definition.run(
            batch_parameters={"dataframe": frame}, run_id=RunIdentifier(run_name=run_name, run_time=run_time)
        )
        # GX's execution engine keeps every batch's data frame for the life of the context; a run validates many
        # (a million processes held 5.6 GB), so each one is let go once its results are in.
        batches = self.source.get_execution_engine().batch_manager
        batches.reset_batch_cache()
        batches.batch_data_cache.clear()
        by_id = {(r.expectation_config.meta or {})["check_id"]: r for r in outcome.results if r.expectation_config}
        key = list(table_schemas()[table].get("primaryKey") or [])
        return [self._result(spec, by_id[spec.check_id], frame, key) for spec in specs]

    @staticmethod
    def _result(spec: ExpectationSpec, outcome: Any, frame: Any, key: list[str]) -> CheckResult:
        result = outcome.result or {}
        examples: list[dict[str, Any]] = []
        observed = None
        error = _raised(outcome.exception_info)
        if error is not None:
            # An expectation that could not run failed: nothing it should have checked was checked.
            checked, failing = len(frame), len(frame)
            examples = [{"error": error}]
        elif "element_count" in result:
            checked, failing = int(result["element_count"]), int(result.get("unexpected_count") or 0)
            columns = [c for c in dict.fromkeys([*key, *spec.columns]) if c in frame.columns]
            for index in (result.get("partial_unexpected_index_list") or [])[:3]:
                row = frame.iloc[index]
                examples.append({c: _plain(row[c]) for c in columns})
        else:
            # Table-level expectations (row count, column list) report an observed value, not rows.
            value = result.get("observed_value")
            observed = float(value) if isinstance(value, int | float) else None
            checked = int(spec.threshold) if spec.threshold is not None else 1
            failing = 0 if outcome.success else (abs(int(observed) - checked) if observed is not None else 1)
            if not outcome.success:
                examples = [{"observed": value, "expected": spec.kwargs.get("value", spec.kwargs.get("column_list"))}]
        return CheckResult(
            check_id=spec.check_id,
            source="great_expectations",
            family=spec.family,
            severity=spec.severity,
            table=spec.table,
            description=spec.description,
            status="passed" if outcome.success else "failed",
            checked=checked,
            failing=failing if not outcome.success else 0,
            examples=tuple(examples),
            observed=observed,
            threshold=spec.threshold,
        )

    def run(
        self,
        tables: Mapping[str, Any],
        expected_counts: Mapping[str, int],
        run_name: str = "semaforo",
        run_time: dt.datetime | None = None,
    ) -> list[CheckResult]:
        """Validate every table that has a schema; return one result per expectation."""
        results: list[CheckResult] = []
        schemas = table_schemas()
        for table in sorted(name for name in tables if name in schemas):
            data = tables[table]
            specs = build_suite(table, expected_counts.get(table))
            if hasattr(data, "get_fragments") and data.count_rows() > BATCH_ROWS:
                results += self._validate_files(table, data, specs, run_name, run_time)
                continue
            if hasattr(data, "to_table"):  # an Arrow dataset (a whole warehouse table): read it now, one at a time
                data = data.to_table()
            frame = data.to_pandas() if hasattr(data, "to_pandas") else data.reset_index(drop=True)
            results += self.validate(table, frame, specs, run_name, run_time)
        missing = sorted(set(expected_counts) - set(tables))
        for table in missing:
            # A table the previous step promised rows for and nobody passed in is a lost table, not a skip.
            results.append(
                CheckResult(
                    f"{table}.row_count",
                    "great_expectations",
                    "reconciliation",
                    "blocking",
                    table,
                    f"The table has {expected_counts[table]} rows, as the previous step reported.",
                    "failed",
                    checked=expected_counts[table],
                    failing=expected_counts[table],
                    examples=({"observed": "table missing", "expected": expected_counts[table]},),
                )
            )
        return results

    def _validate_files(
        self, table: str, dataset: Any, specs: list[ExpectationSpec], run_name: str, run_time: dt.datetime | None
    ) -> list[CheckResult]:
        """Validate a large Arrow dataset one file (a year partition) at a time, in bounded memory.

        Row-level results add up across files. Keys hold within a file because every partitioned table's key starts
        with ``ocid`` and a process lives in one year; the row count is checked on the key column alone.
        """
        whole = [spec for spec in specs if spec.expectation == "ExpectTableRowCountToEqual"]
        per_file = [spec for spec in specs if spec not in whole]
        combined: dict[str, CheckResult] = {}
        for number, fragment in enumerate(dataset.get_fragments(), start=1):
            frame = fragment.to_table(schema=dataset.schema).to_pandas()
            for result in self.validate(table, frame, per_file, run_name, run_time, name=f"{table}.part{number}"):
                combined[result.check_id] = _add(combined.get(result.check_id), result)
        results = [combined[spec.check_id] for spec in per_file if spec.check_id in combined]
        if whole:
            key = list(table_schemas()[table].get("primaryKey") or [])[:1] or dataset.schema.names[:1]
            frame = dataset.to_table(columns=key).to_pandas()
            results += self.validate(table, frame, whole, run_name, run_time, name=f"{table}.rows")
        return results

    def render_data_docs(self, folder: Path) -> Path:
        """Build the GX Data Docs static site of this run into ``folder`` (replaced atomically); return index.html."""
        folder = Path(folder).resolve()
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
        staging.chmod(0o755)  # mkdtemp makes it private; the site is meant to be served
        site = f"semaforo-{os.getpid()}-{id(staging)}"
        try:
            self.context.add_data_docs_site(
                site,
                {
                    "class_name": "SiteBuilder",
                    "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(staging)},
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                },
            )
            self.context.build_data_docs(site_names=[site])
            _make_reproducible(staging, site)
            if folder.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
                os.replace(folder, old / folder.name)
                os.replace(staging, folder)
                shutil.rmtree(old)
            else:
                os.replace(staging, folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return folder / "index.html"


_ASSET_STAMP = re.compile(r"(great-expectations-web-assets[^\"'?]*)\?d=[0-9TZ.]+")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_STAMP = re.compile(r"\d{8}T\d{6}\.\d{6}Z")


class _Numbering:
    """Replace each distinct UUID with a stable one numbered in order of first appearance."""

    def __init__(self) -> None:
        self.numbers: dict[str, str] = {}

    def __call__(self, match: re.Match[str]) -> str:
        return self.numbers.setdefault(match.group(0), f"00000000-0000-4000-8000-{len(self.numbers):012d}")


def _make_reproducible(folder: Path, site: str) -> None:
    """Strip what GX writes from the clock and the process, so the same run renders the same bytes.

    GX stamps asset URLs and each validation with the wall clock, names elements with random UUIDs and the site
    with our temporary name. Stamps become the run time (the one in the validation folder names), UUIDs are
    numbered in order of appearance in each file, and the site is called ``semaforo``.
    """
    run_stamps = sorted({m.group(0) for p in folder.rglob("*") for m in _STAMP.finditer(p.name)})
    for path in folder.rglob("*"):
        if path.suffix not in (".html", ".json", ".js") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        cleaned = _ASSET_STAMP.sub(r"\1", text).replace(site, "semaforo")
        if run_stamps:
            cleaned = _STAMP.sub(lambda m: m.group(0) if m.group(0) in run_stamps else run_stamps[-1], cleaned)
        cleaned = _UUID.sub(_Numbering(), cleaned)
        if cleaned != text:
            path.write_text(cleaned, encoding="utf-8")


def run_suites(
    tables: Mapping[str, Any],
    expected_counts: Mapping[str, int],
    *,
    data_docs_dir: Path | None = None,
    run_name: str = "semaforo",
    run_time: dt.datetime | None = None,
) -> list[CheckResult]:
    """Validate every table against its suite in an ephemeral context; optionally render Data Docs into a folder."""
    runner = SuiteRunner()
    results = runner.run(tables, expected_counts, run_name, run_time)
    if data_docs_dir is not None:
        runner.render_data_docs(data_docs_dir)
    return results
