"""DAG integrity: every DAG file imports cleanly and quickly, with schedule, start date, retries, tags and docs."""

from __future__ import annotations

import runpy
import time
from pathlib import Path

import pytest

DAGS = sorted((Path(__file__).resolve().parents[2] / "dags").glob("*.py"))


@pytest.fixture(scope="module")
def dagbag():  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS[0].parent))


def test_every_dag_file_imports_without_errors(dagbag) -> None:  # type: ignore[no-untyped-def]
    assert DAGS, "no DAG files found"
    assert dagbag.import_errors == {}
    assert "compranet_nightly" in dagbag.dag_ids


@pytest.mark.parametrize("path", DAGS, ids=lambda p: p.name)
def test_dag_file_imports_in_under_a_second(path: Path) -> None:
    import airflow.sdk  # noqa: F401  (Airflow itself is loaded once by the processor; we time our file)

    runpy.run_path(str(path))  # warm the bytecode cache
    started = time.perf_counter()
    runpy.run_path(str(path))
    assert time.perf_counter() - started < 1.0


def test_dags_have_schedule_start_retries_tags_and_docs(dagbag) -> None:  # type: ignore[no-untyped-def]
    for dag_id, dag in dagbag.dags.items():
        assert dag.timetable is not None and dag.timetable.can_be_scheduled, f"{dag_id} has no schedule"
        assert dag.start_date is not None, f"{dag_id} has no start date"
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md and len(dag.doc_md) > 100, f"{dag_id} has no docs"
        for task in dag.tasks:
            assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"
            assert task.doc_md, f"{dag_id}.{task.task_id} has no docs"


def test_nightly_runs_at_three_mexico_city_time(dagbag) -> None:  # type: ignore[no-untyped-def]
    dag = dagbag.dags["compranet_nightly"]
    assert dag.timetable.expression == "0 3 * * *"
    assert str(dag.timetable.timezone) == "America/Mexico_City"
    assert next(t.task_id for t in dag.topological_sort()) == "ingest.extract"
    assert dag.get_task("publish").upstream_task_ids == {"warehouse.score"}
    cumulative = {"ocds.compile", "warehouse.build_tables", "warehouse.score", "publish"}
    assert {t.task_id for t in dag.tasks if t.depends_on_past} == cumulative
    assert {a.name for t in dag.tasks for a in t.outlets} >= {"semaforo.publication", "semaforo.out_flags"}
