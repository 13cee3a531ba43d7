"""Defaults every Semáforo DAG shares (kept free of heavy imports: DAG files import this at parse time)."""

from __future__ import annotations

import datetime as dt
from typing import Any


def on_failure(context: Any) -> None:
    """Write the run report with the failure, so a failed night is as visible as a good one."""
    from transforms.dagtasks import report_failure

    report_failure(context)


DEFAULT_ARGS: dict[str, Any] = {
    "owner": "semaforo",
    "retries": 2,
    "retry_delay": dt.timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": dt.timedelta(minutes=10),
    "execution_timeout": dt.timedelta(hours=2),
    "on_failure_callback": on_failure,
}
