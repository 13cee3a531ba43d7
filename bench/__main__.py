"""``make bench``: Semáforo's OCDS steps next to the reference tools, on the same simulated input, in one run.

For each size: ``semaforo compile`` vs ``ocdskit compile`` (end to end, as subprocesses), ``semaforo validate`` vs
plain ``jsonschema`` (Draft 4), and DuckDB's ``read_json`` of the same releases (the parsing floor). Each command
runs in its own process so its peak resident memory can be read. Results go to ``bench/results.json`` and
``bench/results.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BIN = Path(sys.executable).parent

# Runs a command and prints its peak resident set size (KiB), read from the kernel after it exits.
PEAK = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)"
)
JSONSCHEMA = """
import json, sys, gzip
from jsonschema import Draft4Validator, FormatChecker
schema = json.load(open(sys.argv[1]))
validator = Draft4Validator(schema, format_checker=FormatChecker())
errors = 0
with open(sys.argv[2], "rb") as fh:
    for line in fh:
        errors += sum(1 for _ in validator.iter_errors(json.loads(line)))
print(errors)
"""
DUCKDB = (
    "import duckdb, sys; print(duckdb.execute(\"SELECT count(*) FROM read_json(?, format = 'newline_delimited', "
    'maximum_object_size = 100000000)", [sys.argv[1]]).fetchone()[0])'
)


def measure(command: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run a command once; return wall seconds and peak RSS in MiB."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", PEAK, *command], env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(command)}\n{result.stderr[-2000:]}")
    return {"seconds": round(seconds, 3), "peak_mib": round(int(result.stdout.split()[-1]) / 1024, 1)}


def make_releases(path: Path, target: int) -> int:
    """Write about ``target`` simulated releases as JSON Lines; return the exact count."""
    from transforms import jsonio
    from transforms.ocds.mapping import to_releases
    from transforms.sources.simulator import STAGES, SimulationConfig, simulate

    procedures = max(100, target // 6)  # about six releases per simulated procedure
    universe = simulate(
        SimulationConfig(seed=11, procedures=procedures, start=dt.date(2025, 1, 1), end=dt.date(2026, 10, 31))
    )
    releases, _ = to_releases(((s, r) for s in STAGES for r in universe.records[s]), "ocds-sem4f0")
    return jsonio.write_jsonl(path, releases)


def run(sizes: list[int], schema_dir: Path) -> dict[str, Any]:
    """Run every benchmark at every size."""
    env = {**os.environ, "SEMAFORO_OCDS_SCHEMA_DIR": str(schema_dir)}
    release_schema = str(schema_dir / "release-schema.json")
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "date": dt.date.today().isoformat(),
        "sizes": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            path = Path(tmp) / f"releases-{size}.jsonl"
            count = make_releases(path, size)
            megabytes = path.stat().st_size / 1e6
            print(f"--- {count:,} releases ({megabytes:.1f} MB)", flush=True)
            runs = {
                "semaforo compile": measure([str(BIN / "semaforo"), "compile", str(path)], env),
                "ocdskit compile": measure(
                    ["sh", "-c", f"{BIN / 'ocdskit'} compile --schema {release_schema} < {path}"], env
                ),
                "semaforo validate": measure([str(BIN / "semaforo"), "validate", str(path)], env),
                "jsonschema validate": measure([sys.executable, "-c", JSONSCHEMA, release_schema, str(path)], env),
                "duckdb read_json": measure([sys.executable, "-c", DUCKDB, str(path)], env),
            }
            for name, result in runs.items():
                result["releases_per_second"] = round(count / result["seconds"])
                print(
                    f"{name:<22} {result['seconds']:>8.2f} s {result['releases_per_second']:>10,} rel/s "
                    f"{result['peak_mib']:>8.1f} MiB",
                    flush=True,
                )
            ratios = {
                "compile_speedup_vs_ocdskit": round(
                    runs["ocdskit compile"]["seconds"] / runs["semaforo compile"]["seconds"], 2
                ),
                "validate_speedup_vs_jsonschema": round(
                    runs["jsonschema validate"]["seconds"] / runs["semaforo validate"]["seconds"], 2
                ),
            }
            print(ratios, flush=True)
            results["sizes"].append(
                {"releases": count, "megabytes": round(megabytes, 1), "runs": runs, "ratios": ratios}
            )
    return results


def to_markdown(results: dict[str, Any]) -> str:
    """Render the results as a Markdown table."""
    lines = [
        f"Measured {results['date']} on {results['machine']['cpus']} CPUs, Python {results['machine']['python']}.",
        "",
        "| releases | step | seconds | releases/s | peak MiB |",
        "|---:|---|---:|---:|---:|",
    ]
    for size in results["sizes"]:
        for name, run_ in size["runs"].items():
            lines.append(
                f"| {size['releases']:,} | {name} | {run_['seconds']:.2f} | {run_['releases_per_second']:,} | "
                f"{run_['peak_mib']:.1f} |"
            )
    lines.append("")
    for size in results["sizes"]:
        lines.append(
            f"- {size['releases']:,} releases: compile ×{size['ratios']['compile_speedup_vs_ocdskit']} vs "
            f"ocdskit, validate ×{size['ratios']['validate_speedup_vs_jsonschema']} vs jsonschema"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    """Parse arguments, run, write the results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="20000,100000", help="comma-separated numbers of releases")
    parser.add_argument(
        "--pipeline-sizes",
        default="10000,100000",
        help="comma-separated numbers of simulated procedures for the whole-pipeline benchmark (1000000 takes long)",
    )
    parser.add_argument(
        "--indicator-sizes",
        default="",
        help="comma-separated numbers of contracting processes for the scoring benchmark (bench.indicators), e.g. "
        "100000,1000000; empty skips it",
    )
    default_schema = os.environ.get("SEMAFORO_OCDS_SCHEMA_DIR", "")
    parser.add_argument("--schema-dir", default=default_schema, help="folder with the OCDS 1.1.5 schema files")
    args = parser.parse_args()
    if not args.schema_dir:
        # Download through the project's own cache, as users would.
        from transforms.ocds.schema import schema_path
        from transforms.settings import load_settings

        args.schema_dir = str(schema_path(load_settings(), "release-schema.json").parent)
        for name in (
            "release-package-schema.json",
            "record-package-schema.json",
            "versioned-release-validation-schema.json",
        ):
            schema_path(load_settings(), name)
    results = run([int(s) for s in args.sizes.split(",") if s], Path(args.schema_dir))
    from bench import pipeline

    with tempfile.TemporaryDirectory(prefix="semaforo-bench-") as work:
        sizes = []
        for procedures in [int(s) for s in args.pipeline_sizes.split(",") if s]:
            print(f"--- pipeline, {procedures:,} simulated procedures", flush=True)
            sizes.append(pipeline.run_size(procedures, Path(args.schema_dir), Path(work)))
            print(pipeline.to_markdown({"sizes": sizes[-1:]}), flush=True)
    results["pipeline"] = {"sizes": sizes, "slopes": pipeline.slopes(sizes)}
    if args.indicator_sizes:
        from bench import indicators

        with tempfile.TemporaryDirectory(prefix="semaforo-bench-indicators-") as work:
            counts = [int(s) for s in args.indicator_sizes.split(",") if s]
            results["indicators"] = indicators.run(counts, Path(args.schema_dir), indicators.BASE, Path(work))
        print(indicators.to_markdown(results["indicators"]), flush=True)
    elif (HERE / "results.json").exists():
        # Not re-run: keep the scoring benchmark's last results.
        previous = json.loads((HERE / "results.json").read_text()).get("indicators")
        if previous is not None:
            results["indicators"] = previous
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (HERE / "results.md").write_text(to_markdown(results) + "\n" + pipeline.to_markdown(results["pipeline"]))
    if sizes:
        pipeline.plot(results["pipeline"], HERE / "results.png")
    print(f"wrote {HERE / 'results.json'}, {HERE / 'results.md'} and {HERE / 'results.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
