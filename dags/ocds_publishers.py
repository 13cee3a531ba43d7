"""
### ocds_&lt;publisher&gt; — one DAG per configured OCDS publisher

A DAG factory, like one spider per publisher: every entry of `schemas/sources/publishers.json` (or of the file
named by `SEMAFORO_PUBLISHERS_FILE`) becomes a DAG `ocds_<name>` that lands the publisher's record or release
packages for the data interval (page/pageSize, offset, POST or `links.next` paging), stores its releases and then
runs the same steps as `compranet_nightly`: compile, validate, tables, checks, scores, publication — in the
publisher's own tree under `publishers/<name>/`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from airflow.sdk import CronDataIntervalTimetable, dag, task

from transforms.dag_defaults import DEFAULT_ARGS

CONFIG = Path(
    os.environ.get("SEMAFORO_PUBLISHERS_FILE") or Path(__file__).parent.parent / "schemas/sources/publishers.json"
)
STEPS = ("extract", "normalize", "compile", "validate", "build_tables", "check_tables", "score", "publish")
CUMULATIVE = {"compile", "build_tables", "score", "publish"}  # they build on earlier nights


def _run(step: str, publisher: str) -> dict[str, Any]:
    from transforms.dagtasks import run_step

    return run_step(step, publisher=publisher)


def build(name: str, schedule: str) -> Any:
    """Return the DAG of one publisher: the pipeline's steps in order, each calling the library."""

    @dag(
        dag_id=f"ocds_{name}",
        schedule=CronDataIntervalTimetable(schedule, timezone="America/Mexico_City"),
        start_date=dt.datetime(2026, 1, 1, 10, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=3,
        default_args=DEFAULT_ARGS,
        tags=["semaforo", "ocds", "publisher"],
        doc_md=__doc__,
    )
    def publisher_dag() -> None:
        previous = None
        for step in STEPS:
            current = task(
                _run,
                task_id=step,
                depends_on_past=step in CUMULATIVE,
                doc_md=f"`transforms.pipeline` step `{step}` for publisher `{name}`.",
            )(step, name)
            if previous is not None:
                previous >> current
            previous = current

    return publisher_dag()


for _entry in json.loads(CONFIG.read_text(encoding="utf-8"))["publishers"]:
    globals()[f"ocds_{_entry['name']}"] = build(_entry["name"], _entry.get("schedule", "0 4 * * *"))
