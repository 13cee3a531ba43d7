"""The Airflow cluster profile: CeleryExecutor, PostgreSQL metadata, a Redis (or RabbitMQ) broker.

Every process of the cluster — api-server, scheduler, dag-processor and each Celery worker — must see the same
environment; :func:`cluster_env` builds it. The traps it avoids (REFERENCE §9.2): the JWT secret, API secret key and
Fernet key must agree across processes; workers need the execution API URL; two workers on one host need their own
log-server ports; the data root must be shared (a shared filesystem, or an object store through fsspec).
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from transforms.airflow_env import DAGS_FOLDER


def derived_secret(seed: str, purpose: str, length: int = 64) -> str:
    """Derive a stable secret for one purpose from a seed (tests and single-host clusters only)."""
    digest = hashlib.sha512(f"{purpose}:{seed}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()[:length]


def cluster_env(
    *,
    database_url: str,
    broker_url: str,
    api_host: str,
    api_port: int,
    airflow_home: Path,
    data_root: Path,
    secret_seed: str,
    queue: str = "default",
    parallelism: int = 4,
) -> dict[str, str]:
    """Return the Airflow and Semáforo variables every process of a Celery cluster needs."""
    fernet = base64.urlsafe_b64encode(hashlib.sha256(f"fernet:{secret_seed}".encode()).digest()).decode()
    return {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__CORE__FERNET_KEY": fernet,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{api_host}:{api_port}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        # Keep the explicit driver: SQLAlchemy 2.1 defaults plain postgresql:// to psycopg 3, which is not installed.
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + database_url,
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
        # Tasks go to this queue; start workers with `-q QUEUE`. Separate queues keep clusters sharing a broker apart.
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
        "AIRFLOW__API__HOST": api_host,
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__SECRET_KEY": derived_secret(secret_seed, "api"),
        "AIRFLOW__API_AUTH__JWT_SECRET": derived_secret(secret_seed, "jwt", 86),
        "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "SEMAFORO_DATA_ROOT": str(data_root),
    }
