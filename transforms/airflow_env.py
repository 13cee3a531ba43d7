"""Run the real Airflow DAG locally: an Airflow home with SQLite metadata inside the data root."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from transforms.errors import SemaforoError
from transforms.settings import Settings

REPO = Path(__file__).resolve().parent.parent
DAGS_FOLDER = REPO / "dags"


def airflow_env(settings: Settings, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Return the environment for Airflow commands: home and SQLite metadata under the data root."""
    home = (settings.data_root / "airflow").resolve()
    home.mkdir(parents=True, exist_ok=True)
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "SEMAFORO_DATA_ROOT": str(settings.data_root.resolve()),
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
    }
    if settings.ocds_schema_dir is not None:
        env["SEMAFORO_OCDS_SCHEMA_DIR"] = str(settings.ocds_schema_dir.resolve())
    env["SEMAFORO_SOURCE_URL"] = settings.source_url
    env.update(extra or {})
    return env


def airflow(settings: Settings, *args: str, extra: dict[str, str] | None = None, capture: bool = True) -> str:
    """Run ``airflow ARGS`` with the local environment; raise with its output when it fails."""
    command = [str(Path(sys.executable).parent / "airflow"), *args]
    result = subprocess.run(command, env=airflow_env(settings, extra), capture_output=capture, text=True, check=False)
    if result.returncode != 0:
        output = ((result.stdout or "") + (result.stderr or ""))[-4000:]
        raise SemaforoError(f"`airflow {' '.join(args)}` failed (exit {result.returncode}):\n{output}")
    return result.stdout or ""


def migrate(settings: Settings) -> None:
    """Create or upgrade the SQLite metadata database (idempotent)."""
    airflow(settings, "db", "migrate")


def run_dag(
    settings: Settings, keys: list[str], dag_id: str = "compranet_nightly", extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Prepare the metadata database, then run ``dag_id`` through Airflow (``dag.test()``) for each interval key.

    Returns the finished process; its output holds Airflow's log when it fails.
    """
    migrate(settings)
    return subprocess.run(
        [sys.executable, "-m", "transforms.airflow_run", "--dag-id", dag_id, *keys],
        env=airflow_env(settings, extra),
        capture_output=True,
        text=True,
        check=False,
    )
