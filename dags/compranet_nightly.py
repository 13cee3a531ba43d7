"""
### compranet_nightly

Pull every CompraNet stage updated in the data interval, turn it into OCDS 1.1, store, validate, score and publish.

| group | task | library function | output |
|---|---|---|---|
| ingest | `extract` | `transforms.pipeline.extract` | `raw/<source>/<date>/` pages + manifest |
| ingest | `normalize` | `transforms.pipeline.normalize` | `releases/<source>/<date>/` releases + quarantine |
| ocds | `compile` | `transforms.pipeline.compile` | `compiled/<source>/<date>/`: touched processes |
| ocds | `validate` | `transforms.pipeline.validate` | `checks/<date>/validation.json` (fails on any schema error) |
| warehouse | `build_tables` | `transforms.pipeline.build_tables` | `warehouse/<date>/`: a snapshot, incremental |
| warehouse | `check_tables` | `transforms.pipeline.check_tables` | `out_checks`, Data Docs; stops on blocking |
| warehouse | `score` | `transforms.pipeline.score` | `out_flags` |
| publication | `publish` | `transforms.pipeline.publish` | `publish/<date>/`, `publish/latest` |

Every task is keyed on the data interval (03:00 → 03:00 Mexico City time), writes to a temporary place and swaps
the result in, so re-running a date is safe. The steps that read the state accumulated over earlier nights
(`compile`, `build_tables`, `score`, `publish`) wait for the previous night (`depends_on_past`), so backfills
running side by side still see every earlier night. A failure writes the run report too
(`reports/<date>/run.json`). Settings come from `SEMAFORO_*` environment variables.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import Asset, CronDataIntervalTimetable, dag, task, task_group

from transforms.dag_defaults import DEFAULT_ARGS

PUBLICATION = Asset(name="semaforo.publication", uri="file:///semaforo/publish/latest")
TABLES = Asset(name="semaforo.tables", uri="file:///semaforo/warehouse/latest")
FLAGS = Asset(name="semaforo.out_flags", uri="file:///semaforo/warehouse/latest/out_flags")


def _run(step: str) -> dict[str, Any]:
    """Call one pipeline step for the current task's data interval (heavy imports happen here, at run time)."""
    from transforms.dagtasks import run_step

    return run_step(step)


@dag(
    dag_id="compranet_nightly",
    schedule=CronDataIntervalTimetable("0 3 * * *", timezone="America/Mexico_City"),
    start_date=dt.datetime(2026, 1, 1, 9, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=3,
    default_args=DEFAULT_ARGS,
    tags=["semaforo", "compranet", "ocds"],
    doc_md=__doc__,
)
def compranet_nightly() -> None:
    """Wire the steps; each task only calls the library."""

    @task_group(tooltip="Land the night's stage records and map them to OCDS releases.")
    def ingest() -> None:
        @task(doc_md="Land every stage updated in the interval from the stage API, with a manifest.")
        def extract() -> dict[str, Any]:
            return _run("extract")

        @task(doc_md="Map landed records to OCDS 1.1 releases; quarantine unmappable ones with the reason.")
        def normalize() -> dict[str, Any]:
            return _run("normalize")

        extract() >> normalize()

    @task_group(tooltip="Compile the touched processes and validate against the official schema.")
    def ocds() -> None:
        @task(depends_on_past=True, doc_md="Recompile only the processes that got releases tonight.")
        def compile() -> dict[str, Any]:
            return _run("compile")

        @task(doc_md="Validate tonight's releases and compiled releases against OCDS 1.1.5 (+ extensions).")
        def validate() -> dict[str, Any]:
            return _run("validate")

        compile() >> validate()

    @task_group(tooltip="Build the star schema and compute red flags.")
    def warehouse() -> None:
        @task(
            depends_on_past=True,
            outlets=[TABLES],
            doc_md="Build tonight's Parquet snapshot from last night's, redoing only the processes that changed.",
        )
        def build_tables() -> dict[str, Any]:
            return _run("build_tables")

        @task(doc_md="Great Expectations suites and cross-table checks into `out_checks`; stop on a blocking failure.")
        def check_tables() -> dict[str, Any]:
            return _run("check_tables")

        @task(depends_on_past=True, outlets=[FLAGS], doc_md="Compute red flags into `out_flags`.")
        def score() -> dict[str, Any]:
            return _run("score")

        build_tables() >> check_tables() >> score()

    @task(
        depends_on_past=True,
        outlets=[PUBLICATION],
        doc_md="Publish packages, flat files, datapackage.json and SHA256SUMS; switch `publish/latest`.",
    )
    def publish() -> dict[str, Any]:
        return _run("publish")

    ingested, compiled, tabled = ingest(), ocds(), warehouse()
    ingested >> compiled >> tabled >> publish()


compranet_nightly()
