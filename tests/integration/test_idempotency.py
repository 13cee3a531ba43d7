"""Schedulers can trust re-runs: the same night gives the same bytes, a killed step leaves nothing half-written,
and two overlapping backfills racing on the same nights end as one backfill does."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from transforms import jsonio, pipeline
from transforms.intervals import Interval

NIGHTS = ["2026-11-07", "2026-11-08", "2026-11-09", "2026-11-10"]
# Operational records, not outputs: raw manifests carry the fetch time, reports carry durations.
NOT_OUTPUTS = {"raw", "reports", "airflow"}


def snapshot(root: Path) -> dict[str, str]:
    """Hash every output file under a data root."""
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not NOT_OUTPUTS & set(path.relative_to(root).parts)
    }


def run_nights(settings, nights: list[str]) -> None:  # type: ignore[no-untyped-def]
    for night in nights:
        pipeline.run_interval(settings, Interval.for_day(night))


@pytest.fixture
def served(settings, stage_server):  # type: ignore[no-untyped-def]
    return settings.model_copy(update={"source_url": stage_server.url})


def test_rerunning_a_night_gives_byte_identical_outputs(served) -> None:  # type: ignore[no-untyped-def]
    run_nights(served, NIGHTS[:2])
    before = snapshot(served.data_root)
    assert any(name.endswith("semaforo.duckdb") for name in before)
    # The second night's DuckDB file was the first night's, updated with what changed.
    assert jsonio.read_json(served.data_root / "warehouse" / NIGHTS[1] / "semaforo.duckdb.inputs")["generation"] == 1
    run_nights(served, NIGHTS[1:2])
    assert snapshot(served.data_root) == before


def _cli(settings, *args: str) -> subprocess.Popen[bytes]:  # type: ignore[no-untyped-def]
    env = {
        **os.environ,
        "SEMAFORO_DATA_ROOT": str(settings.data_root),
        "SEMAFORO_SOURCE_URL": settings.source_url,
        "SEMAFORO_OCDS_SCHEMA_DIR": str(settings.ocds_schema_dir),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "transforms.cli", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _visible(root: Path) -> dict[str, str]:
    """Outputs a reader can see: hidden staging names (".…") are work in progress."""
    return {
        name: digest
        for name, digest in snapshot(root).items()
        if not any(part.startswith(".") for part in Path(name).parts)
    }


@pytest.mark.parametrize("step", ["build_tables", "publish"])
def test_a_killed_step_leaves_no_partial_output(served, step: str) -> None:  # type: ignore[no-untyped-def]
    run_nights(served, NIGHTS[:2])
    complete = _visible(served.data_root)
    for delay in (0.3, 0.8, 1.5):  # kill at several points of the step
        process = _cli(served, "run", step, "--date", NIGHTS[1])
        time.sleep(delay)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        assert _visible(served.data_root) == complete, f"a reader saw a partial output after {delay}s"
    # The retry ends in the same state as a clean run.
    assert _cli(served, "run", step, "--date", NIGHTS[1]).wait() == 0
    assert _visible(served.data_root) == complete


def test_overlapping_backfills_end_as_one(served, tmp_path) -> None:  # type: ignore[no-untyped-def]
    one = served.model_copy(update={"data_root": tmp_path / "one"})
    run_nights(one, NIGHTS)

    # Backfill A runs nights 1–3 and B nights 2–4, at the same time, on the same data root. As Airflow's
    # depends_on_past guarantees, B starts night 2 once night 1 is compiled; after that they race on nights 2 and 3.
    script = (
        "import sys\n"
        "from transforms import pipeline\n"
        "from transforms.intervals import Interval\n"
        "from transforms.settings import load_settings\n"
        "for night in sys.argv[1:]:\n"
        "    pipeline.run_interval(load_settings(), Interval.for_day(night))\n"
    )
    env = {
        **os.environ,
        "SEMAFORO_DATA_ROOT": str(served.data_root),
        "SEMAFORO_SOURCE_URL": served.source_url,
        "SEMAFORO_OCDS_SCHEMA_DIR": str(served.ocds_schema_dir),
    }
    a = subprocess.Popen([sys.executable, "-c", script, *NIGHTS[:3]], env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not (served.data_root / "reports" / NIGHTS[0] / "compile.json").exists():
        assert a.poll() is None or a.returncode == 0, a.stderr.read().decode() if a.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.05)
    b = subprocess.Popen([sys.executable, "-c", script, *NIGHTS[1:]], env=env, stderr=subprocess.PIPE)
    assert a.wait(timeout=600) == 0, a.stderr.read().decode() if a.stderr else ""
    assert b.wait(timeout=600) == 0, b.stderr.read().decode() if b.stderr else ""

    # Two data roots build their own DuckDB files, which never match byte for byte (random ids in the header):
    # compare everything else byte for byte, and the databases by content (their ".inputs" records name each file's
    # inode and how many updates it has had since built afresh). The publication's link index is a cache outside the
    # publications: a night published before its cut night may leave one more entry there.
    def comparable(root: Path) -> dict[str, str]:
        return {
            k: v
            for k, v in snapshot(root).items()
            if not k.endswith((".duckdb", ".duckdb.inputs", "SHA256SUMS", "datapackage.json"))
            and not k.startswith("publish/.index/")
        }

    assert comparable(served.data_root) == comparable(one.data_root)
    for root in (served.data_root, one.data_root):
        assert os.readlink(root / "publish" / "latest") == NIGHTS[-1]
    assert _database_content(served.data_root) == _database_content(one.data_root)


def _database_content(root: Path) -> dict[str, str]:
    """A digest of every table's rows in the latest published DuckDB file."""
    with duckdb.connect(str(root / "publish" / NIGHTS[-1] / "semaforo.duckdb"), read_only=True) as con:
        names = [row[0] for row in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
        assert "core_contracting_processes" in names
        return {
            name: hashlib.sha256(
                repr(con.execute(f'SELECT * FROM "{name}" ORDER BY ALL').fetchall()).encode()
            ).hexdigest()
            for name in names
        }
