"""The bridge between Airflow tasks and the pipeline library: read the task's data interval, run one step."""

from __future__ import annotations

import logging
from typing import Any

from transforms.intervals import Interval
from transforms.pipeline import STEP_FUNCTIONS, fetch_publisher, normalize_publisher, publisher_settings, run_report
from transforms.settings import load_settings

log = logging.getLogger(__name__)
PUBLISHER_STEPS = {"extract": fetch_publisher, "normalize": normalize_publisher}


def current_interval() -> Interval:
    """Return the running task's data interval."""
    from airflow.sdk import get_current_context

    context = get_current_context()
    start, end = context["data_interval_start"], context["data_interval_end"]
    if start is None or end is None:
        raise RuntimeError("this DAG run has no data interval; trigger it with a logical date")
    return Interval(start, end)


def run_step(step: str, publisher: str | None = None) -> dict[str, Any]:
    """Run one pipeline step for the current data interval and refresh the run report.

    With ``publisher``, the step runs in that OCDS publisher's own tree, and ``extract``/``normalize`` fetch and
    store its packages instead of the CompraNet stage API.
    """
    settings = load_settings()
    interval = current_interval()
    if publisher is not None:
        settings = publisher_settings(settings, publisher)
        if step in PUBLISHER_STEPS:
            try:
                return PUBLISHER_STEPS[step](settings, interval, publisher)
            finally:
                run_report(settings, interval)
    try:
        return STEP_FUNCTIONS[step](settings, interval)
    finally:
        report = run_report(settings, interval)
        log.info("run report %s: %s", interval.key, {k: v.get("seconds") for k, v in report["steps"].items()})


def report_failure(context: Any) -> None:
    """Record a failed step in the run report (``on_failure_callback``); never raise from a callback."""
    try:
        settings = load_settings()
        interval = Interval(context["data_interval_start"], context["data_interval_end"])
        task_instance = context.get("ti") or context.get("task_instance")
        failure = {
            "task": getattr(task_instance, "task_id", None),
            "try_number": getattr(task_instance, "try_number", None),
            "error": str(context.get("exception", "")),
        }
        run_report(settings, interval, failure=failure)
    except Exception:  # a broken report must not hide the task's own failure
        log.exception("could not write the failure report")
