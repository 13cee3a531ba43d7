"""
### compranet_nightly

Pull every CompraNet stage updated in the data interval, turn it into OCDS 1.1, store, validate, score and publish.

| task | library function | output |
|---|---|---|
| `extract` | `transforms.pipeline.extract` | `raw/<source>/<date>/` pages + manifest |
| `normalize` | `transforms.pipeline.normalize` | `releases/<source>/<date>/` releases + quarantine |
| `compile` | `transforms.pipeline.compile` | `compiled/<date>/compiled_releases.jsonl.gz` |
| `validate` | `transforms.pipeline.validate` | `checks/<date>/validation.json` (fails on any schema error) |
| `build_tables` | `transforms.pipeline.build_tables` | `warehouse/<date>/` Parquet + DuckDB |
| `score` | `transforms.pipeline.score` | `out_flags` |
| `publish` | `transforms.pipeline.publish` | `publish/<date>/`, `publish/latest` |

Every task is keyed on the data interval (03:00 → 03:00 Mexico City time), writes to a temporary place and swaps
the result in, so re-running a date is safe. Settings come from `SEMAFORO_*` environment variables.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import CronDataIntervalTimetable, dag, task

DEFAULT_ARGS = {
    "owner": "semaforo",
    "retries": 2,
    "retry_delay": dt.timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": dt.timedelta(minutes=10),
    "execution_timeout": dt.timedelta(hours=2),
}


def _run(step: str) -> dict[str, Any]:
    """Call one pipeline step for the current task's data interval (heavy imports happen here, at run time)."""
    from transforms.dagtasks import run_step

    return run_step(step)


@dag(
    dag_id="compranet_nightly",
    schedule=CronDataIntervalTimetable("0 3 * * *", timezone="America/Mexico_City"),
    start_date=dt.datetime(2026, 1, 1, 9, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["semaforo", "compranet", "ocds"],
    doc_md=__doc__,
)
def compranet_nightly() -> None:
    """Wire the steps; each task only calls the library."""

    @task(doc_md="Land every stage updated in the interval from the stage API, with a manifest.")
    def extract() -> dict[str, Any]:
        return _run("extract")

    @task(doc_md="Map landed records to OCDS 1.1 releases; quarantine unmappable ones with the reason.")
    def normalize() -> dict[str, Any]:
        return _run("normalize")

    @task(doc_md="Compile releases into one compiled release per ocid, as `ocdskit compile` would.")
    def compile() -> dict[str, Any]:
        return _run("compile")

    @task(doc_md="Validate releases and compiled releases against the official OCDS 1.1.5 schema.")
    def validate() -> dict[str, Any]:
        return _run("validate")

    @task(doc_md="Flatten compiled releases into Parquet tables by year and a DuckDB file.")
    def build_tables() -> dict[str, Any]:
        return _run("build_tables")

    @task(doc_md="Compute red flags (R018 single bidding …) into `out_flags`.")
    def score() -> dict[str, Any]:
        return _run("score")

    @task(doc_md="Publish packages, flat files, datapackage.json and SHA256SUMS; switch `publish/latest`.")
    def publish() -> dict[str, Any]:
        return _run("publish")

    compiled = extract() >> normalize() >> compile()
    checked, tabled = validate(), build_tables()
    compiled >> [checked, tabled]
    scored = score()
    tabled >> scored
    [checked, scored] >> publish()


compranet_nightly()
