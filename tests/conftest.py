"""Shared fixtures: settings in a temporary data root, the official schema from ../shared, a loopback stage API."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
OCDS_DIR = SHARED / "ocds" / "1.1.5"
SAMPLES = SHARED / "samples" / "compranet"

# Airflow reads its home at import: point it at a throwaway folder so tests never touch ~/airflow.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="semaforo-airflow-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parent.parent / "dags")

# Tests never read the developer's own SEMAFORO_* settings.
for _key in [k for k in os.environ if k.startswith("SEMAFORO_")]:
    del os.environ[_key]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark everything under tests/integration as integration."""
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def ocds_dir() -> Path:
    """The official OCDS 1.1.5 schema folder (tests and CI only)."""
    if not (OCDS_DIR / "release-schema.json").exists():
        pytest.skip(f"the official OCDS schema is not at {OCDS_DIR}")
    return OCDS_DIR


@pytest.fixture
def settings(tmp_path: Path, ocds_dir: Path):  # type: ignore[no-untyped-def]
    """Settings with a temporary data root and the local official schema."""
    from transforms.settings import load_settings

    return load_settings(data_root=tmp_path / "data", ocds_schema_dir=ocds_dir)


@pytest.fixture(scope="session")
def small_config():  # type: ignore[no-untyped-def]
    """A small simulated universe whose events are dense around 2026-11-10."""
    from transforms.sources.simulator import SimulationConfig

    return SimulationConfig(seed=7, procedures=1200, start=dt.date(2026, 10, 1), end=dt.date(2026, 11, 12))


@pytest.fixture(scope="session")
def small_universe(small_config):  # type: ignore[no-untyped-def]
    """The small universe (generated once per session)."""
    from transforms.sources.simulator import simulate

    return simulate(small_config)


@pytest.fixture
def stage_server(small_universe) -> Iterator:  # type: ignore[no-untyped-def]
    """A fault-free stage API on loopback."""
    from transforms.sources.stage_api import serve_in_thread

    server = serve_in_thread(small_universe)
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ocds_dir: Path) -> Path:
    """Settings for commands that read the environment (the CLI): temporary data root, local schema."""
    monkeypatch.setenv("SEMAFORO_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("SEMAFORO_OCDS_SCHEMA_DIR", str(ocds_dir))
    return tmp_path / "data"
