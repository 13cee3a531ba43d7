"""Run the nightly DAG for several intervals in one process with ``dag.test()`` (used by ``semaforo demo``).

Airflow reads its configuration at import, so this module runs as a subprocess with the environment from
:func:`transforms.airflow_env.airflow_env`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from transforms.airflow_env import DAGS_FOLDER
from transforms.intervals import MEXICO_CITY


def run_after(key: str) -> dt.datetime:
    """A moment after which the latest complete daily interval is the one starting on ``key``.

    A daily cron interval starting on ``key`` at any hour ends the next day at that hour; at 23:00 local time that
    next day it is the latest complete one, whatever hour the DAG's schedule uses.
    """
    next_day = dt.date.fromisoformat(key) + dt.timedelta(days=1)
    return dt.datetime.combine(next_day, dt.time(23), tzinfo=MEXICO_CITY)


def main(argv: list[str] | None = None) -> int:
    """Test-run ``dag_id`` once per interval key; exit non-zero if any run fails."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dag-id", default="compranet_nightly")
    parser.add_argument("keys", nargs="+", help="interval keys (YYYY-MM-DD)")
    args = parser.parse_args(argv)

    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    if bag.import_errors:
        print(f"DAG import errors: {bag.import_errors}", file=sys.stderr)
        return 2
    dag = bag.get_dag(args.dag_id)
    failed = []
    for key in args.keys:
        print(f"=== {args.dag_id} for {key}", flush=True)
        run = dag.test(logical_date=run_after(key))
        state = str(getattr(run, "state", ""))
        print(f"=== {args.dag_id} for {key}: {state}", flush=True)
        if "success" not in state:
            failed.append(key)
    if failed:
        print(f"failed intervals: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
