"""Scoring at the size of all CompraNet: every indicator, the risk index and competitiveness at 100k and 1M processes.

Data: the simulator (``transforms.sources.simulator``, mapped with ``to_releases`` and compiled with
``compile_releases``, as ``bench.__main__.make_releases``) makes up to ``--base`` contracting processes, flattened into
the core tables. It holds its whole universe in memory, so a larger size is that base *replicated*: copy k gets
re-keyed ocids (``ocds-sem4f0-r{k}-…``, in every id that embeds them) and every date moved 4·k years later (whole
leap cycles, so periods keep their length); organizations stay the same, as they would over more years. The output
says so.

Each step runs in its own process (the data is made in another one, so that none inherits the simulator's memory),
and its peak resident memory is read from the kernel:

- **observe**: stream the compiled releases (JSON Lines) through ``models.scoring.observe``; write the observation
  tables as Parquet;
- **decide**: ``models.scoring.score_observed`` over a DuckDB connection whose core and observation tables are views
  over those Parquet files, as in the pipeline.

Reported: processes/s, MB/s of compiled-release JSON (Cardinal publishes ~350 MB/s for its Rust binary), peak RSS,
the split observe vs decide, and the slope of log(seconds) against log(processes) (1.0 is linear). Results go under
``indicators`` in ``bench/results.json`` (the rest of the file is left as it is) and print as a Markdown table.

``python -m bench.indicators --sizes 100000,1000000`` (or ``python -m bench --indicator-sizes …``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from models.competition import TABLES

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"
PREFIX = "ocds-sem4f0"
CARDINAL_MB_PER_SECOND = 350  # Cardinal's published throughput for its Rust binary (REFERENCE §9)
LEAP_CYCLE_DAYS = 1461  # four years, one of them leap: a date moved by 4·k years moves by k·1461 days
SEED = 11
BASE = 100_000  # processes simulated at most: the simulator holds ~6 GB at 100k procedures
START, END = dt.date(2023, 1, 1), dt.date(2026, 12, 31)
# The core tables scoring reads.
CORE = (*TABLES, "core_organization_map")
DATE_TIME = re.compile(rb"(\d{4})(-\d\d-\d\dT)")


# -- data ------------------------------------------------------------------------------------------------------
def generate(procedures: int, folder: Path, schema_dir: Path) -> dict[str, Any]:
    """Simulate, map, compile and flatten procedures into ``folder`` (compiled.jsonl, core/*.parquet)."""
    import pyarrow.parquet as pq

    from transforms import jsonio, tables
    from transforms.ocds.compile import compile_releases
    from transforms.ocds.mapping import to_releases
    from transforms.ocds.schema import release_schema
    from transforms.settings import load_settings
    from transforms.sources.simulator import STAGES, SimulationConfig, simulate

    started = time.perf_counter()
    universe = simulate(SimulationConfig(seed=SEED, procedures=procedures, start=START, end=END))
    releases, _ = to_releases(((stage, r) for stage in STAGES for r in universe.records[stage]), PREFIX)
    del universe
    compiled = list(compile_releases(releases, release_schema(load_settings(ocds_schema_dir=schema_dir))))
    del releases
    count = jsonio.write_jsonl(folder / "compiled.jsonl", compiled)
    rows = tables.flatten(compiled)
    del compiled
    (folder / "core").mkdir(parents=True, exist_ok=True)
    for name in CORE:
        pq.write_table(tables.to_arrow(name, rows.pop(name)), folder / "core" / f"{name}.parquet")
    return {"processes": count, "seconds": round(time.perf_counter() - started, 1)}


def _shift(match: re.Match[bytes], years: int) -> bytes:
    return str(int(match[1]) + years).encode() + match[2]


def replicate(base: Path, copies: int, folder: Path) -> None:
    """Write ``copies`` re-keyed copies of a base folder's compiled releases and core tables into ``folder``."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    (folder / "core").mkdir(parents=True, exist_ok=True)
    with (folder / "compiled.jsonl").open("wb") as out:
        for k in range(copies):
            prefix, years = f"{PREFIX}-r{k}-".encode(), 4 * k
            with (base / "compiled.jsonl").open("rb") as lines:
                for line in lines:
                    if k:
                        line = line.replace(f"{PREFIX}-".encode(), prefix)
                        line = DATE_TIME.sub(lambda m, y=years: _shift(m, y), line)
                    out.write(line)
    for name in CORE:
        table = pq.read_table(base / "core" / f"{name}.parquet")
        parts = []
        for k in range(copies):
            columns = []
            for field, column in zip(table.schema, table.columns, strict=True):
                if k and pa.types.is_string(field.type):
                    column = pc.replace_substring(column, f"{PREFIX}-", f"{PREFIX}-r{k}-")
                elif k and pa.types.is_timestamp(field.type):
                    shifted = pc.add(pc.cast(column, pa.int64()), k * LEAP_CYCLE_DAYS * 86_400 * 10**6)
                    column = pc.cast(shifted, field.type)
                elif k and field.name == "year":
                    column = pc.add(column, 4 * k)
                columns.append(column)
            parts.append(pa.table(columns, schema=table.schema))
        pq.write_table(pa.concat_tables(parts), folder / "core" / f"{name}.parquet")


# -- measured steps (each in its own process) ----------------------------------------------------------------
def observe_step(folder: Path) -> dict[str, Any]:
    """Observe ``folder/compiled.jsonl``; write ``folder/obs/*.parquet``."""
    import pyarrow.parquet as pq

    from models.scoring import observe
    from transforms import jsonio

    started = time.perf_counter()
    observed = observe(jsonio.read_jsonl(folder / "compiled.jsonl"))
    seconds = time.perf_counter() - started
    (folder / "obs").mkdir(exist_ok=True)
    for name, table in observed.items():
        pq.write_table(table, folder / "obs" / f"{name}.parquet")
    return {
        "observe_seconds": round(seconds, 2),
        "observation_rows": sum(t.num_rows for t in observed.values()),
        "observation_mib": round(sum(t.nbytes for t in observed.values()) / 2**20, 1),
    }


def decide_step(folder: Path) -> dict[str, Any]:
    """Score the observations and core tables of ``folder`` through DuckDB views over their Parquet files."""
    from models.scoring import OBSERVATION_SCHEMAS, score_observed
    from transforms.pipeline import SCORE_MEMORY
    from transforms.store import connect

    started = time.perf_counter()
    with connect(SCORE_MEMORY) as con:  # as the pipeline's score step connects
        # Names are this module's constants and the registry's table names, never user input.
        for name in CORE:
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{folder / 'core' / name}.parquet')")
        for name in OBSERVATION_SCHEMAS:
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{folder / 'obs' / name}.parquet')")
        outputs = score_observed(con)
    return {
        "decide_seconds": round(time.perf_counter() - started, 2),
        "rows": {name: table.num_rows for name, table in outputs.items()},
    }


def _child(step: str, folder: Path, *extra: str) -> tuple[Any, float]:
    """Run a step in a child process; return its printed JSON result and its peak RSS in MiB."""
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.indicators", "--step", step, str(folder), *extra],
        stdout=subprocess.PIPE,
        cwd=HERE.parent,
    )
    assert child.stdout is not None
    output = child.stdout.read()
    # The child's own rusage: this process stays small, so what the child inherits at fork is small too.
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"bench.indicators {step} failed on {folder} (exit {os.waitstatus_to_exitcode(status)})")
    return json.loads(output), usage.ru_maxrss / 1024


def _measure(step: str, folder: Path) -> dict[str, Any]:
    """Run a measured step in a child process; return its result with wall seconds and peak RSS (MiB)."""
    started = time.perf_counter()
    result, peak = _child(step, folder)
    result[f"{step}_wall_seconds"] = round(time.perf_counter() - started, 2)
    result[f"{step}_peak_mib"] = round(peak, 1)
    return dict(result)


# -- the benchmark ---------------------------------------------------------------------------------------------
def run(sizes: list[int], schema_dir: Path, base: int, work: Path) -> dict[str, Any]:
    """Benchmark every size; return the results (``indicators`` of bench/results.json)."""
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count()},
        "date": dt.date.today().isoformat(),
        "cardinal_mb_per_second": CARDINAL_MB_PER_SECOND,
        "sizes": [],
    }
    source = work / f"base-{base}"
    for size in sizes:
        simulated = min(size, base)
        folder = work / f"size-{size}"
        if size <= base:
            print(f"--- {size:,} processes: simulating {size:,} procedures", flush=True)
            _child("generate", folder, str(size), str(schema_dir))
            note = "simulated"
        else:
            if not (source / "compiled.jsonl").exists():
                print(f"--- simulating the base of {base:,} procedures", flush=True)
                _child("generate", source, str(base), str(schema_dir))
            copies = math.ceil(size / base)
            print(f"--- {size:,} processes: {copies} re-keyed copies of the simulated {base:,}", flush=True)
            _child("replicate", folder, str(source), str(copies))
            note = f"{copies} copies of {base:,} simulated processes, re-keyed ocids, dates moved 4 years per copy"
        megabytes = (folder / "compiled.jsonl").stat().st_size / 1e6
        measured = {**_measure("observe", folder), **_measure("decide", folder)}
        processes = measured["rows"]["out_process_scores"]
        total = measured["observe_wall_seconds"] + measured["decide_wall_seconds"]
        row = {
            "processes": processes,
            "simulated_processes": simulated,
            "data": note,
            "compiled_json_mb": round(megabytes, 1),
            **measured,
            "total_seconds": round(total, 2),
            "processes_per_second": round(processes / total),
            "mb_per_second": round(megabytes / total, 1),
            "observe_mb_per_second": round(megabytes / measured["observe_wall_seconds"], 1),
            "decide_share": round(measured["decide_wall_seconds"] / total, 3),
        }
        results["sizes"].append(row)
        print(to_markdown({"sizes": [row], "cardinal_mb_per_second": CARDINAL_MB_PER_SECOND}), flush=True)
    results["slopes"] = slopes(results["sizes"])
    return results


def slopes(sizes: list[dict[str, Any]]) -> dict[str, float]:
    """Least-squares slope of log(seconds) against log(processes) for observe, decide and both: 1.0 is linear."""
    if len(sizes) < 2:
        return {}
    found = {}
    for name in ("observe_wall_seconds", "decide_wall_seconds", "total_seconds"):
        points = [(math.log(s["processes"]), math.log(max(s[name], 1e-3))) for s in sizes]
        mean_x = sum(x for x, _ in points) / len(points)
        mean_y = sum(y for _, y in points) / len(points)
        den = sum((x - mean_x) ** 2 for x, _ in points)
        found[name.replace("_wall", "")] = round(sum((x - mean_x) * (y - mean_y) for x, y in points) / den, 2)
    return found


def to_markdown(results: dict[str, Any]) -> str:
    """Render the results as a Markdown table."""
    lines = [
        "| processes | JSON MB | observe s | observe MiB | decide s | decide MiB | processes/s | MB/s (Cardinal "
        f"~{results['cardinal_mb_per_second']}) | decide share | data |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in results["sizes"]:
        lines.append(
            f"| {s['processes']:,} | {s['compiled_json_mb']:,} | {s['observe_wall_seconds']} | "
            f"{s['observe_peak_mib']:,} | {s['decide_wall_seconds']} | {s['decide_peak_mib']:,} | "
            f"{s['processes_per_second']:,} | {s['mb_per_second']} | {s['decide_share']} | {s['data']} |"
        )
    if results.get("slopes"):
        lines.append("")
        lines.append("Slope of log(seconds) against log(processes): " + ", ".join(
            f"{name} {value}" for name, value in results["slopes"].items()))  # fmt: skip
    return "\n".join(lines) + "\n"


def write(results: dict[str, Any], path: Path = RESULTS) -> None:
    """Put the results under ``indicators`` in bench/results.json, leaving every other key as it is."""
    merged = json.loads(path.read_text()) if path.exists() else {}
    merged["indicators"] = results
    path.write_text(json.dumps(merged, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--step``, one measured step in this process)."""
    parser = argparse.ArgumentParser(prog="python -m bench.indicators", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated numbers of contracting processes")
    parser.add_argument("--base", type=int, default=BASE, help="processes simulated; larger sizes replicate them")
    parser.add_argument("--work", help="folder for the generated data (default: a temporary one)")
    parser.add_argument("--schema-dir", default=os.environ.get("SEMAFORO_OCDS_SCHEMA_DIR", ""))
    parser.add_argument("--step", choices=["generate", "replicate", "observe", "decide"], help=argparse.SUPPRESS)
    parser.add_argument("folder", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("extra", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    if args.step == "generate":
        print(json.dumps(generate(int(args.extra[0]), Path(args.folder), Path(args.extra[1]))))
        return 0
    if args.step == "replicate":
        replicate(Path(args.extra[0]), int(args.extra[1]), Path(args.folder))
        print("{}")
        return 0
    if args.step:
        step = observe_step if args.step == "observe" else decide_step
        print(json.dumps(step(Path(args.folder))))
        return 0
    if not args.schema_dir:
        raise SystemExit("set --schema-dir or SEMAFORO_OCDS_SCHEMA_DIR to the OCDS 1.1.5 schema folder")
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.work:
        results = run(sizes, Path(args.schema_dir), args.base, Path(args.work))
    else:
        with tempfile.TemporaryDirectory(prefix="semaforo-bench-indicators-") as work:
            results = run(sizes, Path(args.schema_dir), args.base, Path(work))
    write(results)
    print(to_markdown(results))
    print(f"wrote the indicators key of {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
