"""The pipeline steps, one function each, called by the DAG, the CLI and the tests.

Every step takes the settings and one data interval, reads only what that interval needs, writes to a temporary
place and swaps the result in, and returns a small summary (also written to ``reports/<key>/<step>.json``).
Layout under the data root::

    raw/<source>/<key>/                  landed pages + manifest.json (extract)
    releases/<source>/<key>/             releases.parquet, quarantine.jsonl.gz (normalize)
    compiled/<source>/<key>/             compiled.parquet: the processes touched in this interval (compile)
                                         + previous.parquet, what they replaced
    warehouse/<key>/                     parquet/<table>/year=YYYY/*.parquet, observations/, manifest.json
                                         + semaforo.duckdb (tables, score)
    checks/<key>/validation.json         schema validation report (validate)
    publish/<key>/, publish/latest       the publication (publish)
    reports/<key>/<step>.json            what each step did
"""

from __future__ import annotations

import collections
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import pyarrow.parquet as pq

from transforms import jsonio, tables, warehouse
from transforms import normalize as normalizing
from transforms import publish as publishing
from transforms.errors import ValidationFailed
from transforms.intervals import Interval
from transforms.ocds import compile as ocds_compile
from transforms.ocds import fastmerge
from transforms.ocds.schema import release_schema
from transforms.ocds.validate import Validator
from transforms.settings import Settings
from transforms.sources import compranet_api
from transforms.store import Store

log = logging.getLogger(__name__)
SCORE_MEMORY = "2GB"  # DuckDB's share of the score step's memory (it spills to disk past it)
COMPETITION_MEMORY = "1GB"  # and that of the database computing competitiveness beside the indicators
STEPS = ("extract", "normalize", "compile", "validate", "build_tables", "check_tables", "score", "publish")
F = TypeVar("F", bound=Callable[..., dict[str, Any]])
# The publisher DAGs' first two steps report under the names of the steps they stand in for.
REPORT_NAMES = {"fetch_publisher": "extract", "normalize_publisher": "normalize"}


def reports_dir(settings: Settings, interval: Interval) -> Path:
    """Return the folder of an interval's step reports."""
    return settings.data_root / "reports" / interval.key


def step(func: F) -> F:
    """Time a step, log its summary and write it to ``reports/<key>/<step>.json``."""

    @wraps(func)
    def wrapper(settings: Settings, interval: Interval, *args: Any, **kwargs: Any) -> dict[str, Any]:
        started = time.perf_counter()
        log.info("%s %s: starting", func.__name__, interval.key)
        summary = func(settings, interval, *args, **kwargs)
        summary = {
            "step": func.__name__,
            "interval": interval.key,
            **summary,
            "seconds": round(time.perf_counter() - started, 3),
        }
        name = REPORT_NAMES.get(func.__name__, func.__name__)
        summary["step"] = name
        jsonio.write_json(reports_dir(settings, interval) / f"{name}.json", summary)
        log.info("%s %s: %s", func.__name__, interval.key, summary)
        return summary

    return wrapper  # type: ignore[return-value]


def store(settings: Settings) -> Store:
    """Return the release and compiled store of the configured source."""
    return Store(settings.data_root, settings.source_name)


def quarantine_path(settings: Settings, key: str) -> Path:
    """Return the quarantine file of one interval."""
    return settings.data_root / "releases" / settings.source_name / key / "quarantine.jsonl.gz"


def warehouse_dir(settings: Settings, key: str) -> Path:
    """Return the folder of one interval's tables."""
    return settings.data_root / "warehouse" / key


def publisher_settings(settings: Settings, name: str) -> Settings:
    """Settings for one OCDS publisher: its own tree under ``publishers/<name>/`` (raw, store, tables, publication)."""
    return settings.model_copy(update={"data_root": settings.data_root / "publishers" / name, "source_name": name})


# -- steps ----------------------------------------------------------------------------------------------------
@step
def extract(settings: Settings, interval: Interval) -> dict[str, Any]:
    """Land every stage updated within the interval from the stage API."""
    result = compranet_api.extract(settings, interval)
    return {
        "records_in": sum(result["records"].values()),
        "by_stage": result["records"],
        "retries": result["retries"],
        "path": result["path"],
    }


@step
def normalize(settings: Settings, interval: Interval) -> dict[str, Any]:
    """Map the landed records to OCDS releases; quarantine what cannot be mapped, with the reason."""
    # A stream from the landed pages to the sorted releases: bounded memory however long the interval.
    records = compranet_api.read_landed(settings, interval)
    target = quarantine_path(settings, interval.key)
    releases_store = store(settings)
    summary = normalizing.normalize(records, settings.ocid_prefix, releases_store, interval.key, target)
    releases_store.record_interval(interval.key, interval.start, interval.end)
    return summary


@step
def fetch_publisher(settings: Settings, interval: Interval, name: str) -> dict[str, Any]:
    """Land an OCDS publisher's pages for the interval (record or release packages, any paging)."""
    from transforms.sources import ocds_publisher

    source = ocds_publisher.load_sources(settings.publishers_file)[name]
    result = ocds_publisher.fetch(source, settings, interval)
    return {"records_in": result["items"], "pages": result["pages"], "path": result["path"]}


@step
def normalize_publisher(settings: Settings, interval: Interval, name: str) -> dict[str, Any]:
    """Store an OCDS publisher's releases for the interval (already OCDS: nothing to map)."""
    from transforms.sources import ocds_publisher

    source = ocds_publisher.load_sources(settings.publishers_file)[name]
    releases = list(ocds_publisher.iter_releases(settings, source, interval))
    releases_store = store(settings)
    written = releases_store.write_releases(interval.key, releases)
    releases_store.record_interval(interval.key, interval.start, interval.end)
    jsonio.write_jsonl(quarantine_path(settings, interval.key), [])
    return {
        "records_in": len(releases),
        "records_mapped": written,
        "records_quarantined": 0,
        "releases_out": written,
        "ocids": len({r["ocid"] for r in releases}),
    }


@step
def compile(settings: Settings, interval: Interval) -> dict[str, Any]:
    """Fold the interval's releases into each touched ocid's compiled release of the night before.

    Chunk by chunk of ocids (memory holds one chunk): the previous compiled releases are looked up once per chunk;
    an ocid with a release dated before its compiled release is recompiled from all its releases instead
    (:func:`transforms.ocds.compile.continue_compiled` says when).
    """
    rules = fastmerge.merge_rules(release_schema(settings))
    releases_store = store(settings)
    earlier = [key for key in releases_store.compiled_keys(interval.key) if key < interval.key]
    before = earlier[-1] if earlier else None
    counts = collections.Counter[str]()
    with releases_store.compiled_writer(interval.key) as out:
        for chunk in releases_store.release_groups(interval.key):
            previous = releases_store.compiled_of((ocid for ocid, _ in chunk), before)
            results = {ocid: ocds_compile.continue_compiled(previous.get(ocid), rels, rules) for ocid, rels in chunk}
            redo = [ocid for ocid, result in results.items() if result is None]
            history = releases_store.releases_of(redo, interval.key)
            for ocid, releases in chunk:
                result = results[ocid] or fastmerge.compile_release(history[ocid], rules)
                out.add(result, previous.get(ocid))
                counts["releases_read"] += len(releases)
            counts["releases_read"] += sum(len(v) for v in history.values())
            counts["ocids_recompiled_in_full"] += len(redo)
            log.info("compile %s: %d ocids compiled", interval.key, out.count)
    return {
        "ocids_touched": out.count,
        "ocids_recompiled_in_full": counts["ocids_recompiled_in_full"],
        "releases_read": counts["releases_read"],
        "compiled_releases": out.count,
        "processes_total": releases_store.count_compiled(interval.key),
    }


@step
def validate(settings: Settings, interval: Interval) -> dict[str, Any]:
    """Validate this interval's releases and the compiled releases against the official release schema."""
    validator = Validator(settings)
    releases_store = store(settings)
    releases = validator.check(releases_store.read_releases(interval.key), label="releases")
    # Compiled releases of untouched ocids were validated on the night they last changed.
    compiled = validator.check(releases_store.read_compiled(interval.key), label="compiled")
    report = {"releases": releases.to_dict(), "compiled": compiled.to_dict()}
    jsonio.write_json(settings.data_root / "checks" / interval.key / "validation.json", report)
    for name, result in (("releases", releases), ("compiled releases", compiled)):
        if not result.ok:
            raise ValidationFailed(f"{name} of {interval.key} fail the OCDS 1.1.5 schema:\n{result.format()}")
    return {"releases_checked": releases.documents, "compiled_checked": compiled.documents, "errors": 0}


@step
def build_tables(settings: Settings, interval: Interval) -> dict[str, Any]:
    """Build the night's star schema from the previous night's and the processes that changed; swap it in."""
    final = warehouse_dir(settings, interval.key)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=final.parent))  # one per run: runs may overlap
    try:
        summary = warehouse.build(store(settings), final.parent, interval, staging, _observer())
        # Not while another run of this night checks or scores it; not at all if that run built the same snapshot.
        with warehouse.lock(final, exclusive=True):
            summary["kept_existing"] = warehouse.same_snapshot(staging, final)
            if not summary["kept_existing"]:
                _swap_snapshot(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # swapped in already, or abandoned by a failure
    summary["snapshots_removed"] = warehouse.prune(final.parent, interval.key, settings.keep_snapshots)
    return summary


def _swap_snapshot(staging: Path, final: Path) -> None:
    """Swap a new snapshot in, with what later steps added to the old one (checks, scores, DuckDB) until they rerun."""
    if (final / "parquet").exists():
        for own in (final / "parquet").iterdir():
            if not own.name.startswith(".") and not (staging / "parquet" / own.name).exists():
                shutil.copytree(own, staging / "parquet" / own.name, copy_function=os.link)
    for kept in ("semaforo.duckdb", "semaforo.duckdb.inputs", "data_docs"):
        if (final / kept).is_dir():
            shutil.copytree(final / kept, staging / kept, copy_function=os.link)
        elif (final / kept).exists():
            os.link(final / kept, staging / kept)
    staging.chmod(0o755)
    jsonio.swap_dir(staging, final)


def _on_snapshot(func: F) -> F:
    """Run a step that reads or adds to the night's snapshot under its shared lock (see ``warehouse.lock``)."""

    @wraps(func)
    def wrapper(settings: Settings, interval: Interval) -> Any:
        with warehouse.lock(warehouse_dir(settings, interval.key), exclusive=False):
            return func(settings, interval)

    return wrapper  # type: ignore[return-value]


def _observer() -> warehouse.Observer:
    """What the indicators observe in each process, kept in the warehouse beside the tables."""
    from models import scoring

    return warehouse.Observer(scoring.OBSERVATION_SCHEMAS, scoring.observe)


@step
@_on_snapshot
def check_tables(settings: Settings, interval: Interval) -> dict[str, Any]:
    """Run the Great Expectations suites and cross-table checks; store ``out_checks``; stop on a blocking failure."""
    from transforms import quality

    folder = warehouse_dir(settings, interval.key)
    releases_store = store(settings)
    # The processes this interval changed (each night checks its own; the first night changed them all). Not "since
    # the snapshot this one was built on": that depends on how backfills happened to overlap, the results must not.
    changed = releases_store.compiled_ocids(interval.key)
    snapshot = warehouse.datasets(folder)
    every = len(changed) == snapshot["core_contracting_processes"].count_rows()
    data: dict[str, Any] = dict(snapshot) if every else warehouse.rows_of(folder, changed)
    data["releases"] = pq.read_table(releases_store.releases_path(interval.key), columns=["ocid", "release_id"])
    expected = {"core_contracting_processes": len(changed)}
    docs = folder / "data_docs"
    try:
        summary = quality.check_tables(
            data, expected, docs, run_name=interval.key, run_time=interval.end, snapshot=snapshot
        )
    except quality.QualityGateFailed as exc:
        failed = exc.summary or {}
        _store_checks(folder, failed.pop("results", []))
        _write_quality(settings, interval, failed)
        raise
    _store_checks(folder, summary.pop("results"))
    _write_quality(settings, interval, summary)
    keep = ("checks_run", "passed", "failed", "skipped", "warnings", "suites_seconds", "checks_seconds")
    return {"processes_checked": len(changed), **{key: summary[key] for key in keep if key in summary}}


def _write_quality(settings: Settings, interval: Interval, summary: dict[str, Any]) -> None:
    """Write the check results without timings (they go to the run report), so a re-run writes the same bytes."""
    results = {key: value for key, value in summary.items() if not key.endswith("_seconds")}
    if results.get("data_docs"):  # relative, so the same night under another data root writes the same bytes
        results["data_docs"] = Path(results["data_docs"]).relative_to(settings.data_root.resolve()).as_posix()
    jsonio.write_json(settings.data_root / "checks" / interval.key / "quality.json", results)


def _store_checks(folder: Path, rows: list[dict[str, Any]]) -> None:
    tables.write_parquet(folder / "parquet", "out_checks", tables.to_arrow("out_checks", rows))


@step
@_on_snapshot
def score(settings: Settings, interval: Interval) -> dict[str, Any]:
    """Score every process as of this night: red flags, risk index, buyer and supplier scores, competitiveness."""
    from models.scoring import score_observed

    folder = warehouse_dir(settings, interval.key)
    # Views over the snapshot's Parquet files, in two databases: competitiveness runs beside the indicators.
    with (
        warehouse.connect(folder, memory=SCORE_MEMORY) as con,
        warehouse.connect(folder, memory=COMPETITION_MEMORY) as beside,
    ):
        outputs = score_observed(con, beside=beside)
    for name, table in outputs.items():
        tables.write_parquet(folder / "parquet", name, table)
    # The night this snapshot was built on gives the DuckDB file to update (a night's file starts as none).
    base = (
        jsonio.read_json(folder / warehouse.MANIFEST).get("base") if (folder / warehouse.MANIFEST).exists() else None
    )
    before = warehouse_dir(settings, base) if base else None
    seed = before / "semaforo.duckdb" if before else None
    listed = folder / warehouse.CHANGED
    changed = tables.Changed(before / "parquet", listed) if before and listed.is_file() else None
    database = folder / "semaforo.duckdb"
    rebuilt = tables.build_duckdb_if_changed(database, folder / "parquet", seed=seed, changed=changed)
    by_indicator = collections.Counter(outputs["out_flags"].column("indicator").to_pylist())
    return {
        "flags": outputs["out_flags"].num_rows,
        "by_indicator": dict(sorted(by_indicator.items())),
        "rows": {name: table.num_rows for name, table in outputs.items()},
        "duckdb": str(database),
        "duckdb_rebuilt": rebuilt,
    }


@step
@_on_snapshot
def publish(settings: Settings, interval: Interval) -> dict[str, Any]:
    """Publish OCDS packages, flat files, Parquet, DuckDB, flags, the change list, the page and datapackage.json."""
    return publishing.publish(settings, interval, store(settings), warehouse_dir(settings, interval.key))


def run_interval(settings: Settings, interval: Interval) -> dict[str, dict[str, Any]]:
    """Run every step for one interval in order, outside Airflow (the CLI's ``semaforo run``)."""
    results = {}
    for name, func in STEP_FUNCTIONS.items():
        results[name] = func(settings, interval)
    return results


STEP_FUNCTIONS: dict[str, Callable[[Settings, Interval], dict[str, Any]]] = {
    "extract": extract,
    "normalize": normalize,
    "compile": compile,
    "validate": validate,
    "build_tables": build_tables,
    "check_tables": check_tables,
    "score": score,
    "publish": publish,
}


def run_report(settings: Settings, interval: Interval, failure: dict[str, Any] | None = None) -> dict[str, Any]:
    """Gather the step reports of one interval into ``reports/<key>/run.json`` (with the failure, if any)."""
    folder = reports_dir(settings, interval)
    steps = {name: jsonio.read_json(folder / f"{name}.json") for name in STEPS if (folder / f"{name}.json").exists()}
    report: dict[str, Any] = {
        "interval": {"start": interval.start.isoformat(), "end": interval.end.isoformat(), "key": interval.key},
        "steps": steps,
        "complete": len(steps) == len(STEPS),
    }
    if failure:
        report["failure"] = failure
    jsonio.write_json(folder / "run.json", report)
    return report
