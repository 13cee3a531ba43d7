"""``semaforo demo``: simulate CompraNet, serve it on loopback, run the nightly DAG through Airflow, summarise."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from transforms import jsonio
from transforms.airflow_env import run_dag
from transforms.errors import SemaforoError
from transforms.intervals import Interval
from transforms.settings import Settings
from transforms.sources.simulator import SimulationConfig, simulate
from transforms.sources.stage_api import serve_in_thread


def demo_keys(end: dt.date, days: int) -> list[str]:
    """The interval keys of the ``days`` nights ending with ``end``."""
    return [(end - dt.timedelta(days=offset)).isoformat() for offset in range(days - 1, -1, -1)]


def run_demo(
    settings: Settings, *, days: int, procedures: int, seed: int, end: dt.date, echo: Any = print
) -> dict[str, Any]:
    """Run the demo and return the summary it prints."""
    started = time.perf_counter()
    config = SimulationConfig(seed=seed, procedures=procedures, start=end - dt.timedelta(days=80), end=end)
    echo(f"[1/2] simulating {procedures:,} CompraNet procedures ({config.start} → {config.end}, seed {seed})")
    universe = simulate(config)
    settings.data_root.mkdir(parents=True, exist_ok=True)
    jsonio.write_jsonl(settings.data_root / "simulator" / "ground_truth.jsonl", universe.ground_truth)
    server = serve_in_thread(universe)
    settings = settings.model_copy(update={"source_url": server.url})
    echo(f"      stage API serving {sum(universe.count().values()):,} records at {server.url}/api/v1/<stage>")
    keys = demo_keys(end, days)
    try:
        echo(f"[2/2] running DAG compranet_nightly through Airflow for {', '.join(keys)}")
        echo(f"      (SQLite metadata in {settings.data_root / 'airflow'}; about 10 s a night)")
        process = run_dag(settings, keys)
    finally:
        server.shutdown()
    if process.returncode != 0:
        log_tail = (process.stdout + process.stderr)[-4000:]
        raise SemaforoError(f"the DAG run failed; the end of Airflow's output:\n{log_tail}")
    summary = summarize(settings, keys)
    echo("[3/3] measuring the flags and the supplier resolution against the simulator's ground truth")
    summary["evaluation"] = evaluate(settings, universe, procedures, seed)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    echo(format_summary(summary))
    return summary


def evaluate(settings: Settings, universe: Any, procedures: int, seed: int) -> dict[str, Any]:
    """Precision and recall of each planted pattern's indicators and of supplier resolution; write them down."""
    from models.evaluation import evaluate as evaluate_patterns
    from models.evaluation import render
    from transforms.resolution import evaluate_resolution

    patterns = evaluate_patterns(procedures, seed, train_cri=False)
    resolution = evaluate_resolution(universe)
    folder = settings.data_root / "reports"
    jsonio.write_json(folder / "evaluation.json", {"patterns": patterns, "resolution": resolution})
    (folder / "evaluation.md").write_text(render(patterns), encoding="utf-8")
    return {"patterns": patterns["patterns"], "resolution": resolution, "path": str(folder / "evaluation.md")}


def summarize(settings: Settings, keys: list[str]) -> dict[str, Any]:
    """Read the run reports of the given intervals."""
    runs = {}
    for key in keys:
        path = settings.data_root / "reports" / Interval.for_day(key).key / "run.json"
        if not path.exists():
            raise SemaforoError(f"no run report for {key} at {path}: the DAG did not finish that interval")
        runs[key] = jsonio.read_json(path)
    last = keys[-1]
    return {
        "runs": runs,
        "duckdb": str((settings.data_root / "warehouse" / last / "semaforo.duckdb").resolve()),
        "publication": str((settings.data_root / "publish" / last).resolve()),
        "latest": str((settings.data_root / "publish" / "latest").resolve()),
    }


def _pct(value: float | None) -> str:
    return "  —  " if value is None else f"{value:5.1%}"


def format_summary(summary: dict[str, Any]) -> str:
    """Render the demo summary as text."""
    lines = ["", "Semáforo demo — what the nightly DAG did", ""]
    header = (
        f"{'interval':<11} {'records':>8} {'quarant.':>8} {'releases':>8} {'processes':>9} {'valid':>6} "
        f"{'flags':>6} {'secs':>6}"
    )
    lines += [header, "-" * len(header)]
    for key, run in summary["runs"].items():
        steps = run["steps"]
        seconds = sum(s.get("seconds", 0) for s in steps.values())
        lines.append(
            f"{key:<11} {steps['extract']['records_in']:>8} {steps['normalize']['records_quarantined']:>8} "
            f"{steps['normalize']['releases_out']:>8} {steps['compile']['processes_total']:>9} "
            f"{'yes' if steps['validate']['errors'] == 0 else 'NO':>6} {steps['score']['flags']:>6} {seconds:>6.1f}"
        )
    last = list(summary["runs"].values())[-1]["steps"]
    evaluation = summary.get("evaluation")
    if evaluation:
        lines += ["", "Planted risk patterns found by their indicators (whole simulated universe):"]
        for row in evaluation["patterns"]:
            if row["precision"] is not None or row["recall"] is not None:
                lines.append(
                    f"  {row['pattern']:<26} {row['indicator']:<12} precision {_pct(row['precision'])}  "
                    f"recall {_pct(row['recall'])}"
                )
        resolution = evaluation["resolution"]
        lines.append(
            f"Supplier resolution on planted spelling variants: precision {_pct(resolution.get('precision'))}, "
            f"recall {_pct(resolution.get('recall'))}   (details: {evaluation['path']})"
        )
    lines += ["", "Tables (last interval): " + ", ".join(f"{k}={v}" for k, v in last["build_tables"]["rows"].items())]
    lines += [
        "Flags raised (last interval): "
        + (", ".join(f"{k}={v}" for k, v in last["score"]["by_indicator"].items()) or "none")
    ]
    lines += [
        "",
        f"DuckDB database:  {summary['duckdb']}",
        f"Publication:      {summary['publication']}",
        f"Latest:           {summary['latest']}",
        f"Total time:       {summary.get('seconds', 0)} s",
        "",
        "Try:  .venv/bin/python -c \"import duckdb; print(duckdb.connect('"
        + summary["duckdb"]
        + "', read_only=True).sql('SELECT indicator, ocid, explanation FROM out_flags LIMIT 5'))\"",
    ]
    return "\n".join(lines)
