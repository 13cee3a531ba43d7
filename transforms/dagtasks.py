"""The bridge between Airflow tasks and the pipeline library: read the task's data interval, run one step."""

from __future__ import annotations

import logging
from typing import Any

from transforms.intervals import Interval
from transforms.pipeline import STEP_FUNCTIONS, run_report
from transforms.settings import load_settings

log = logging.getLogger(__name__)


def current_interval() -> Interval:
    """Return the running task's data interval."""
    from airflow.sdk import get_current_context

    context = get_current_context()
    start, end = context["data_interval_start"], context["data_interval_end"]
    if start is None or end is None:
        raise RuntimeError("this DAG run has no data interval; trigger it with a logical date")
    return Interval(start, end)


def run_step(step: str) -> dict[str, Any]:
    """Run one pipeline step for the current data interval and refresh the run report."""
    settings = load_settings()
    interval = current_interval()
    try:
        return STEP_FUNCTIONS[step](settings, interval)
    finally:
        report = run_report(settings, interval)
        log.info("run report %s: %s", interval.key, {k: v.get("seconds") for k, v in report["steps"].items()})
