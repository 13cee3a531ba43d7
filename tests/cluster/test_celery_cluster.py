"""A real Airflow cluster: api-server, scheduler, dag-processor and two Celery workers, PostgreSQL metadata in a
fresh database, Redis as broker. A three-night backfill must succeed and publish exactly what ``dag.test()``
publishes for the same nights. Skipped, with the reason, only where PostgreSQL or Redis is not running."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from transforms.airflow_env import run_dag
from transforms.cluster import cluster_env
from transforms.intervals import Interval
from transforms.settings import load_settings
from transforms.sources.stage_api import serve_in_thread
from transforms.store import Store

pytestmark = pytest.mark.cluster
PG = ("127.0.0.1", 5432)
REDIS = ("127.0.0.1", 6379)
NIGHTS = ["2026-11-08", "2026-11-09", "2026-11-10"]
BIN = Path(sys.executable).parent


def _listening(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=1):
            return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _pg(database: str = "postgres") -> Iterator[Any]:
    """A cursor on an autocommit connection (CREATE and DROP DATABASE cannot run in a transaction)."""
    import psycopg2

    connection = psycopg2.connect(host=PG[0], port=PG[1], user="postgres", dbname=database)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            yield cursor
    finally:
        connection.close()


class Cluster:
    """The processes this test starts, each in its own process group, and only those."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str, extra: dict[str, str] | None = None) -> None:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        self.processes[name] = subprocess.Popen(
            [str(BIN / "airflow"), *args],
            env={**self.env, **(extra or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise AssertionError(f"{name} exited with {process.returncode}:\n{self.tail(name)}")

    def tail(self, name: str, size: int = 3000) -> str:
        return (self.logs / f"{name}.log").read_bytes()[-size:].decode(errors="replace")

    def stop(self) -> None:
        # Workers first (Celery's warm shutdown takes a few seconds), then the rest; whole process groups.
        order = sorted(self.processes, key=lambda name: not name.startswith("worker"))
        for group in (order[:2], order[2:]):
            for name in group:
                if self.processes[name].poll() is None:
                    os.killpg(self.processes[name].pid, signal.SIGTERM)
            for name in group:
                try:
                    self.processes[name].wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(self.processes[name].pid, signal.SIGKILL)
                    self.processes[name].wait(timeout=10)


def _run_states(database: str) -> dict[str, str]:
    with _pg(database) as cursor:
        # Unpausing also schedules the latest interval (catchup is off): only the backfill's runs are ours.
        cursor.execute(
            "SELECT logical_date, state FROM dag_run WHERE dag_id = 'compranet_nightly' AND run_type = 'backfill'"
        )
        return {str(date): state for date, state in cursor.fetchall()}


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory, small_universe, ocds_dir) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    missing = [name for name, address in (("PostgreSQL", PG), ("Redis", REDIS)) if not _listening(address)]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not running on 127.0.0.1: the cluster test needs them")
    pytest.importorskip("psycopg2", reason="the cluster profile is not installed (make install installs it)")
    root = tmp_path_factory.mktemp("cluster")
    database = f"semaforo_ci_{uuid.uuid4().hex[:10]}"
    with _pg() as cursor:
        cursor.execute(f'CREATE DATABASE "{database}"')  # a generated name, not user input
    server = serve_in_thread(small_universe)
    api_port = _free_port()
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        **cluster_env(
            database_url=f"postgresql+psycopg2://postgres@127.0.0.1:5432/{database}",
            broker_url="redis://127.0.0.1:6379/11",
            api_host="127.0.0.1",
            api_port=api_port,
            airflow_home=root / "airflow",
            data_root=root / "data",
            secret_seed=database,
            queue=database,  # a queue of its own: nothing left on the shared broker can reach these workers
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CELERY__WORKER_LOG_SERVER_PORT": "0",
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
        "SEMAFORO_OCDS_SCHEMA_DIR": str(ocds_dir),
        "SEMAFORO_SOURCE_URL": server.url,
    }
    cluster = Cluster(env, root)
    try:
        subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
        cluster.start("api-server", "api-server", "--port", str(api_port))
        cluster.start("scheduler", "scheduler")
        cluster.start("dag-processor", "dag-processor")
        for number in (1, 2):
            cluster.start(
                f"worker{number}",
                "celery",
                "worker",
                "-H",
                f"worker{number}@%h",
                "-c",
                "2",
                "-q",
                database,
                extra={"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port())},
            )
        _wait(lambda: _dag_serialized(database), 180, cluster, "the DAG to be parsed")
        subprocess.run(
            [str(BIN / "airflow"), "dags", "unpause", "compranet_nightly"],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        started = time.monotonic()
        backfill = subprocess.run(
            [
                str(BIN / "airflow"),
                "backfill",
                "create",
                "--dag-id",
                "compranet_nightly",
                "--from-date",
                NIGHTS[0],
                "--to-date",
                f"{NIGHTS[-1]}T23:00:00+00:00",  # runs are stamped with their interval start (03:00 local)
                "--max-active-runs",
                "3",
                # Required with depends_on_past tasks: re-running a completed night is safe (idempotent steps).
                "--reprocess-behavior",
                "completed",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert backfill.returncode == 0, backfill.stdout[-2000:] + backfill.stderr[-3000:]
        _wait(lambda: _backfill_done(database, cluster), 600, cluster, "the backfill to finish")
        yield {
            "data_root": root / "data",
            "states": _run_states(database),
            "seconds": time.monotonic() - started,
            "cluster": cluster,
        }
    finally:
        cluster.stop()
        server.shutdown()
        with _pg() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _dag_serialized(database: str) -> bool:
    with _pg(database) as cursor:
        cursor.execute("SELECT count(*) FROM serialized_dag WHERE dag_id = 'compranet_nightly'")
        row = cursor.fetchone()
        return bool(row and row[0])


def _backfill_done(database: str, cluster: Cluster) -> bool:
    states = _run_states(database)
    failed = [date for date, state in states.items() if state == "failed"]
    if failed:
        raise AssertionError(f"runs failed: {failed}\n{cluster.tail('worker1')}\n{cluster.tail('scheduler')}")
    return len(states) >= len(NIGHTS) and all(state == "success" for state in states.values())


def _wait(condition: Any, timeout: float, cluster: Cluster, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cluster.check_alive()
        if condition():
            return
        time.sleep(2)
    raise AssertionError(f"timed out waiting for {what}:\n{cluster.tail('scheduler')}\n{cluster.tail('worker1')}")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_backfill_of_three_nights_succeeds_on_two_workers(cluster_run) -> None:  # type: ignore[no-untyped-def]
    states = cluster_run["states"]
    assert sorted(states.values()) == ["success"] * len(NIGHTS)
    keys = sorted(p.name for p in (cluster_run["data_root"] / "publish").iterdir() if p.name[0].isdigit())
    # Unpausing also schedules the latest interval (catchup is off): when it has finished by now, its publication is
    # there too, dated after the backfill's nights.
    assert [key for key in keys if key <= NIGHTS[-1]] == NIGHTS
    logs = {name: cluster_run["cluster"].tail(name, 200_000) for name in ("worker1", "worker2")}
    assert all("compranet_nightly" in log for log in logs.values()), "both workers ran tasks"


def test_cluster_outputs_equal_dag_test(cluster_run, tmp_path, small_universe, ocds_dir) -> None:  # type: ignore[no-untyped-def]
    server = serve_in_thread(small_universe)
    settings = load_settings(data_root=tmp_path / "data", ocds_schema_dir=ocds_dir, source_url=server.url)
    try:
        result = run_dag(settings, NIGHTS)
    finally:
        server.shutdown()
    assert result.returncode == 0, result.stderr[-3000:]
    ours, theirs = settings.data_root, cluster_run["data_root"]
    for key in NIGHTS:
        for name in ("records.jsonl.gz", "releases.jsonl.gz", "flags.csv"):
            assert _digest(ours / "publish" / key / name) == _digest(theirs / "publish" / key / name), (key, name)
        a, b = Store(ours, settings.source_name), Store(theirs, settings.source_name)
        assert _digest(a.releases_path(key)) == _digest(b.releases_path(key))
        assert _digest(a.compiled_path(key)) == _digest(b.compiled_path(key))
    assert Interval.for_day(NIGHTS[-1]).key == NIGHTS[-1]
    assert dt.date.fromisoformat(NIGHTS[-1])
