"""The whole pipeline on simulated CompraNet at several sizes: per-step throughput, peak memory, time share,
scaling, and what a nightly run costs on top of an empty history versus on top of a large one.

Each step runs as its own ``semaforo run STEP`` process (so its peak resident memory can be read), first over the
whole simulated history as one interval (a full rebuild), then for one more night on top of it (a night between
publication cuts), then the same night in an empty data root, then the first night's publish again as a cut night.
The week average counts six nights between cuts and one cut night.

The two nights are measured ``night_runs`` times (three by default), each time one on the history and then the same on
an empty root, so that both see about the same load on the machine: one night costs tens of seconds, and on a shared
machine a single pair can swing the ratio by a fifth. The reported ratio is the median of the runs' ratios, with
their range; a step's seconds are its median over the runs.

A size of a million processes takes over an hour, so a run can be resumed: each step's measurement is recorded in
``<work>/progress-<size>.json`` as it ends, and ``resume=True`` (``--work DIR --resume``) skips the steps recorded
there and reuses the simulated universe. ``rerun_from=STEP`` measures that history step and every later one again
(after a change to them), and the two nights with them; ``rerun_from="nights"`` measures the nights alone again, on the
history as it is (after a change that only a night's run takes a different path through).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from statistics import median
from typing import Any

from transforms import jsonio
from transforms.errors import SourceError
from transforms.pipeline import STEPS
from transforms.sources.simulator import SimulationConfig
from transforms.sources.stage_api import serve_in_thread
from transforms.sources.universe_files import StoredUniverse, write_universe

BIN = Path(sys.executable).parent
PEAK = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(r.returncode)"
)
END = dt.date(2026, 10, 31)
CONTRACTS_PER_DAY = 400  # federal CompraNet averages ~383 a day (REFERENCE §7)
# The data root's folders that hold one night's outputs (transforms.pipeline's layout).
FOLDERS = ("raw", "releases", "compiled", "warehouse", "checks", "publish", "reports")
WEEK = 7  # nights between cut nights, SEMAFORO_PUBLICATION_REFRESH_DAYS' default


def _run_step(step: str, env: dict[str, str], date: dt.date, until: dt.date | None = None) -> dict[str, float]:
    args = [str(BIN / "semaforo"), "run", step, "--date", date.isoformat()]
    if until is not None:
        args += ["--until", until.isoformat()]
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", PEAK, *args], env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"`semaforo run {step}` failed:\n{result.stderr[-3000:]}")
    return {"seconds": round(seconds, 2), "peak_mib": round(int(result.stderr.split()[-1]) / 1024, 1)}


class Progress:
    """The measurements of one size so far, written to a file after every step so that a run can be resumed.

    ``phases`` holds ``simulate_seconds``, ``history`` (step → measurement) and ``nights``: one entry per run of the
    nights, each with ``on_history``, ``on_empty`` and, in the first, ``cut_night`` (the cut night's publish).
    """

    def __init__(self, path: Path, resume: bool, rerun_from: str | None) -> None:
        self.path = path
        recorded: dict[str, Any] = jsonio.read_json(path) if resume and path.exists() else {}
        # What an earlier layout of this file recorded besides these (single nights) is measured again.
        self.phases = {key: recorded[key] for key in ("simulate_seconds", "history", "nights") if key in recorded}
        if rerun_from is not None:
            later = STEPS[STEPS.index(rerun_from) :] if rerun_from in STEPS else []  # "nights": the history stays
            history = self.phases.get("history", {})
            self.phases = {
                "simulate_seconds": self.phases.get("simulate_seconds"),
                "history": {step: m for step, m in history.items() if step not in later},
            }

    def pipeline(
        self, measured: dict[str, Any], label: str, env: dict[str, str], date: dt.date, until: dt.date | None = None
    ) -> dict[str, dict[str, float]]:
        """Run every step not in ``measured`` yet, recording each there; return ``measured``."""
        for step in STEPS:
            self.step(measured, label, step, env, date, until)
        return measured

    def step(
        self,
        measured: dict[str, Any],
        label: str,
        step: str,
        env: dict[str, str],
        date: dt.date,
        until: dt.date | None = None,
    ) -> dict[str, float]:
        """Run one step unless ``measured`` holds it already, recording it there; return its measurement."""
        if step in measured:
            print(f"{label} {step}: measured before, {measured[step]['seconds']} s", flush=True)
        else:
            measured[step] = _run_step(step, env, date, until)
            print(f"{label} {step}: {measured[step]['seconds']} s, {measured[step]['peak_mib']} MiB", flush=True)
            jsonio.write_json(self.path, self.phases)
        return measured[step]


def _complete(run: dict[str, Any], first: bool) -> bool:
    """Whether a run of the nights measured both nights whole (and, the first, the cut night's publish)."""
    nights = all(len(run.get(phase, {})) == len(STEPS) for phase in ("on_history", "on_empty"))
    return nights and (not first or "publish" in run.get("cut_night", {}))


def measure_nights(
    progress: Progress, runs: int, env: dict[str, str], history_root: Path, empty_root: Path, night: dt.date
) -> list[dict[str, Any]]:
    """Measure the night on the history and on an empty root ``runs`` times, in pairs; return every run.

    A run not recorded whole is measured again from its start: each night starts from the history alone (the
    night's outputs forgotten) or from an empty root, and a pair runs back to back.
    """
    recorded = progress.phases.setdefault("nights", [])
    key = night.isoformat()
    for index in range(runs):
        label = f"night {index + 1}/{runs}"
        if index < len(recorded) and _complete(recorded[index], index == 0):
            print(f"{label}: measured before", flush=True)
            continue
        del recorded[index:]
        run: dict[str, Any] = {}
        recorded.append(run)
        _forget_night(history_root, key)
        on_history = {**env, "SEMAFORO_DATA_ROOT": str(history_root)}
        progress.pipeline(run.setdefault("on_history", {}), f"{label} on_history", on_history, night)
        shutil.rmtree(empty_root, ignore_errors=True)
        on_empty = {**env, "SEMAFORO_DATA_ROOT": str(empty_root)}
        progress.pipeline(run.setdefault("on_empty", {}), f"{label} on_empty", on_empty, night)
        if index == 0:
            # The same night's publication as a cut night, which rewrites the yearly and flat files the night
            # touched (one night in SEMAFORO_PUBLICATION_REFRESH_DAYS is one), on the history as the pair left it.
            cut = {**on_history, "SEMAFORO_PUBLICATION_REFRESH_DAYS": "0"}
            progress.step(run.setdefault("cut_night", {}), f"{label} cut_night", "publish", cut, night)
    return recorded[:runs]


def _median_steps(phases: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each step's median seconds over the runs, and its largest peak memory."""
    return {
        step: {
            "seconds": round(median(phase[step]["seconds"] for phase in phases), 2),
            "peak_mib": max(phase[step]["peak_mib"] for phase in phases),
        }
        for step in STEPS
    }


def nightly(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Summarize the runs of the nights: median steps and totals, the median of the runs' ratios and their range."""
    history = [sum(step["seconds"] for step in run["on_history"].values()) for run in runs]
    empty = [sum(step["seconds"] for step in run["on_empty"].values()) for run in runs]
    ratios = [h / e for h, e in zip(history, empty, strict=True) if e]
    on_history, on_empty = _median_steps([r["on_history"] for r in runs]), _median_steps([r["on_empty"] for r in runs])
    cut = runs[0]["cut_night"]["publish"]
    # A week of nights: six between cuts and one cut night, whose publish costs more.
    week = median(history) + (cut["seconds"] - on_history["publish"]["seconds"]) / WEEK
    empty_night = median(empty)
    return {
        "runs": len(runs),
        "on_history": on_history,
        "on_empty": on_empty,
        "on_history_seconds": round(median(history), 2),
        "on_empty_seconds": round(empty_night, 2),
        "ratio": round(median(ratios), 2) if ratios else None,
        "ratios": [round(r, 2) for r in ratios],
        "cut_night_publish": cut,
        "week_average_seconds": round(week, 2),
        "week_average_ratio": round(week / empty_night, 2) if empty_night else None,
    }


def _compiled_json_megabytes(root: Path) -> float:
    """Size of the compiled releases as JSON text (what Cardinal's ~350 MB/s is measured on), in MB."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    total = 0
    for path in (root / "compiled").rglob("compiled.parquet"):
        total += pc.sum(pc.binary_length(pq.read_table(path, columns=["compiled"]).column("compiled"))).as_py() or 0
    return total / 1e6


def _forget_night(root: Path, key: str) -> None:
    """Remove what an earlier run of one night left in a data root (its partitions, snapshot and publication)."""
    for folder in [*root.glob(f"*/*/{key}"), *root.glob(f"*/{key}")]:
        if folder.is_dir() and folder.relative_to(root).parts[0] in FOLDERS:
            shutil.rmtree(folder)


def run_size(
    procedures: int,
    schema_dir: Path,
    work: Path,
    resume: bool = False,
    rerun_from: str | None = None,
    night_runs: int = 3,
) -> dict[str, Any]:
    """Benchmark one size; return its measurements (see the module's docstring for ``resume`` and ``rerun_from``)."""
    days = max(30, procedures // CONTRACTS_PER_DAY)
    config = SimulationConfig(seed=13, procedures=procedures, start=END - dt.timedelta(days=days), end=END)
    progress = Progress(work / f"progress-{procedures}.json", resume or rerun_from is not None, rerun_from)
    folder = work / f"universe-{procedures}"
    try:
        kept = StoredUniverse.open(folder) if progress.phases.get("simulate_seconds") is not None else None
    except SourceError:  # the folder is gone or incomplete: simulate again
        kept = None
    if kept is not None and kept.config == config:
        universe, simulate_seconds = kept, progress.phases["simulate_seconds"]
    else:
        progress.phases = {}  # a new universe: nothing measured before holds
        started = time.perf_counter()
        universe = write_universe(config, folder)  # on disk: bounded memory at any size
        simulate_seconds = progress.phases["simulate_seconds"] = round(time.perf_counter() - started, 2)
        jsonio.write_json(progress.path, progress.phases)
    server = serve_in_thread(universe)
    base = {
        **os.environ,
        "SEMAFORO_SOURCE_URL": server.url,
        "SEMAFORO_OCDS_SCHEMA_DIR": str(schema_dir),
        "SEMAFORO_PAGE_SIZE": "5000",
    }
    history_root, empty_root = work / f"history-{procedures}", work / f"empty-{procedures}"
    if not progress.phases.get("history"):
        shutil.rmtree(history_root, ignore_errors=True)
    try:
        # The history ends the day before the measured night; the night is the window's last day.
        night = END
        history = progress.pipeline(
            progress.phases.setdefault("history", {}),
            "history",
            {**base, "SEMAFORO_DATA_ROOT": str(history_root)},
            config.start,
            night - dt.timedelta(days=1),
        )
        runs = measure_nights(progress, night_runs, base, history_root, empty_root, night)
    finally:
        server.shutdown()
    report = jsonio.read_json(history_root / "reports" / config.start.isoformat() / "run.json")["steps"]
    processes = report["compile"]["processes_total"]
    total = sum(step["seconds"] for step in history.values())
    for step in history.values():
        step["processes_per_second"] = round(processes / step["seconds"]) if step["seconds"] else 0
        step["share"] = round(step["seconds"] / total, 3)
    compiled_mb = _compiled_json_megabytes(history_root)
    return {
        "procedures": procedures,
        "measured": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "days": days,
        "stage_records": sum(universe.count().values()),
        "releases": report["normalize"]["releases_out"],
        "processes": processes,
        "simulate_seconds": simulate_seconds,
        "full_rebuild": {
            "seconds": round(total, 2),
            "peak_mib": max(s["peak_mib"] for s in history.values()),
            "steps": history,
        },
        "indicators_mb_per_second": round(compiled_mb / history["score"]["seconds"], 1),
        "nightly": nightly(runs),
    }


def merged(
    previous: list[dict[str, Any]], measured: list[dict[str, Any]], key: str = "procedures"
) -> list[dict[str, Any]]:
    """Return the sizes measured now, with the previous results of the sizes not measured again, by ``key``."""
    by_size = {size[key]: size for size in previous}
    by_size.update({size[key]: size for size in measured})
    return [by_size[n] for n in sorted(by_size)]


def slopes(sizes: list[dict[str, Any]]) -> dict[str, float]:
    """Least-squares slope of log(seconds) against log(processes) per step: 1.0 is linear."""
    if len(sizes) < 2:
        return {}
    result = {}
    for step in STEPS:
        points = [
            (math.log(s["processes"]), math.log(max(s["full_rebuild"]["steps"][step]["seconds"], 1e-3))) for s in sizes
        ]
        mean_x = sum(x for x, _ in points) / len(points)
        mean_y = sum(y for _, y in points) / len(points)
        den = sum((x - mean_x) ** 2 for x, _ in points)
        result[step] = round(sum((x - mean_x) * (y - mean_y) for x, y in points) / den, 2) if den else 0.0
    return result


def to_markdown(results: dict[str, Any]) -> str:
    """Render the pipeline results."""
    lines = ["| processes | step | seconds | processes/s | peak MiB | share |", "|---:|---|---:|---:|---:|---:|"]
    for size in results["sizes"]:
        for step, m in size["full_rebuild"]["steps"].items():
            lines.append(
                f"| {size['processes']:,} | {step} | {m['seconds']:.2f} | {m['processes_per_second']:,} | "
                f"{m['peak_mib']:.0f} | {m['share']:.0%} |"
            )
    lines += [
        "",
        "| processes | full rebuild s | peak MiB | nightly on history s | nightly on empty s | ratio (range) | "
        "cut night publish s | week average ratio | indicators MB/s | measured (load average) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for size in results["sizes"]:
        n = size["nightly"]
        rebuild = size["full_rebuild"]
        lines.append(
            f"| {size['processes']:,} | {rebuild['seconds']:.1f} | {rebuild['peak_mib']:.0f} | "
            f"{n['on_history_seconds']:.1f} | {n['on_empty_seconds']:.1f} | {_ratio(n)} | "
            f"{n.get('cut_night_publish', {}).get('seconds', '–')} | {n.get('week_average_ratio', '–')} | "
            f"{size['indicators_mb_per_second']} | {size.get('measured', '?')[:16]} "
            f"({', '.join(str(x) for x in size.get('load_average', []))}) |"
        )
    if results.get("slopes"):
        lines += [
            "",
            "Scaling (slope of log time vs log size; 1.0 = linear): "
            + ", ".join(f"{k} {v}" for k, v in results["slopes"].items()),
        ]
    return "\n".join(lines) + "\n"


def _ratio(nightly: dict[str, Any]) -> str:
    """The nightly ratio, with the range of its runs when there were several."""
    ratios = nightly.get("ratios", [])
    return f"{nightly['ratio']} ({min(ratios)}–{max(ratios)})" if len(ratios) > 1 else str(nightly["ratio"])


def plot(results: dict[str, Any], path: Path) -> None:
    """Draw seconds per step against size (log-log) into a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    sizes = results["sizes"]
    for step in STEPS:
        ax.plot(
            [s["processes"] for s in sizes],
            [s["full_rebuild"]["steps"][step]["seconds"] for s in sizes],
            marker="o",
            label=step,
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("contracting processes")
    ax.set_ylabel("seconds (full rebuild)")
    ax.set_title("Semáforo pipeline: cost per step by size")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
