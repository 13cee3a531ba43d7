"""``make bench``: Semáforo's OCDS steps next to the reference tools, on the same simulated input, in one run.

For each size: ``semaforo compile`` vs ``ocdskit compile`` (end to end, as subprocesses), ``semaforo validate`` vs
plain ``jsonschema`` (Draft 4), and DuckDB's ``read_json`` of the same releases (the parsing floor). Each command
runs in its own process (three times if it takes under ten seconds, keeping the median run); two memory figures are
read: the peak resident set of its largest process (from the kernel, exact) and the peak proportional set size of
all its processes together (sampled every 0.1 s, so a shorter spike can be missed). Results go to
``bench/results.json`` and ``bench/results.md``.

Inputs up to 200,000 releases are simulated; larger ones repeat a simulated 100,000-release sample with fresh
ocids (simulating a million releases takes several GB of memory).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import filecmp
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from transforms.pipeline import STEPS

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BIN = Path(sys.executable).parent
SIMULATED_MAX = 200_000  # releases; larger inputs repeat a sample of SAMPLE releases with fresh ocids
SAMPLE = 100_000
SAMPLE_INTERVAL = 0.1  # seconds between samples of a command's process tree
SHORT = 10.0  # seconds: a command that runs shorter is measured three times, and its median run kept

# Runs a command (its output to the file argv[1], or nowhere for "-") and prints the peak resident set size (KiB) of
# its largest process and the CPU seconds of all its processes, read from the kernel after it exits.
PEAK = (
    "import resource, subprocess, sys; "
    "out = subprocess.DEVNULL if sys.argv[1] == '-' else open(sys.argv[1], 'wb'); "
    "r = subprocess.run(sys.argv[2:], stdout=out); "
    "u = resource.getrusage(resource.RUSAGE_CHILDREN); print(u.ru_maxrss, u.ru_utime + u.ru_stime); "
    "sys.exit(r.returncode)"
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


def _descendants(root: int) -> list[int]:
    """Return the processes below ``root`` (not ``root`` itself), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path("/proc", entry.name, "stat").read_bytes()
        except OSError:  # the process ended meanwhile
            continue
        parent = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _pss_kib(pid: int) -> int:
    try:
        for line in Path("/proc", str(pid), "smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):  # the process ended meanwhile, or no smaps_rollup (kernel < 4.14)
        pass
    return 0


class TreeSampler(threading.Thread):
    """Sample the summed PSS of every process below a root until stopped; keep the peak (KiB)."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.peak_kib = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(SAMPLE_INTERVAL):
            self.peak_kib = max(self.peak_kib, sum(_pss_kib(pid) for pid in _descendants(self.root)))


def measure(command: list[str], env: dict[str, str], output: Path | None = None) -> dict[str, float]:
    """Run a command once; return wall and CPU seconds, peak RSS of its largest process and peak PSS of all (MiB).

    Also the machine's load average over the last minute when it ended: the machine may be shared, and a wall time
    measured under load says less than the CPU seconds. The command's output goes to ``output``, if given.
    """
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", PEAK, str(output or "-"), *command],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sampler = TreeSampler(process.pid)
    sampler.start()
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - started
    sampler.stopped.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(command)}\n{stderr[-2000:]}")
    peak_kib, cpu_seconds = stdout.split()[-2:]
    return {
        "seconds": round(seconds, 3),
        "cpu_seconds": round(float(cpu_seconds), 2),
        "peak_mib": round(int(peak_kib) / 1024, 1),
        "tree_peak_mib": round(sampler.peak_kib / 1024, 1),
        "load_average": round(os.getloadavg()[0], 2),
    }


def measure_typical(command: list[str], env: dict[str, str], output: Path | None = None) -> dict[str, Any]:
    """Measure a command; if it took under SHORT seconds, twice more, and return the median run (by wall time).

    The same rule for every command: a long run averages the load of a shared machine over its length, a short one
    catches whatever the load is at that moment, so short commands get the median of three.
    """
    runs = [measure(command, env, output)]
    if runs[0]["seconds"] < SHORT:
        runs += [measure(command, env, output) for _ in range(2)]
    typical: dict[str, Any] = dict(sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2])
    typical["all_seconds"] = [run["seconds"] for run in runs]
    return typical


def simulate_releases(path: Path, target: int) -> int:
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


def repeat_releases(sample: Path, path: Path, target: int) -> int:
    """Write ``target`` releases by repeating the sample; copy N > 0 suffixes every ocid with ``-rN``."""
    import orjson

    written = copy = 0
    with open(path, "wb") as out:
        while written < target:
            with open(sample, "rb") as fh:
                for line in fh:
                    if written == target:
                        break
                    release = orjson.loads(line)
                    if copy:
                        release["ocid"] = f"{release['ocid']}-r{copy}"
                    out.write(orjson.dumps(release) + b"\n")
                    written += 1
            copy += 1
    return written


def make_inputs(sizes: list[int], folder: Path) -> dict[int, tuple[Path, int, str]]:
    """Write one input per size: ``{size: (path, releases, how it was made)}``."""
    inputs: dict[int, tuple[Path, int, str]] = {}
    for size in sorted(sizes):
        path = folder / f"releases-{size}.jsonl"
        if size <= SIMULATED_MAX:
            inputs[size] = (path, simulate_releases(path, size), "simulated")
            continue
        if SAMPLE not in inputs:
            sample_path = folder / f"releases-{SAMPLE}.jsonl"
            inputs[SAMPLE] = (sample_path, simulate_releases(sample_path, SAMPLE), "simulated")
        sample = inputs[SAMPLE][:2]
        count = repeat_releases(sample[0], path, size)
        how = f"{sample[1]:,} simulated releases repeated with fresh ocids (copy N > 0: ocid + '-rN')"
        inputs[size] = (path, count, how)
    return inputs


def run(sizes: list[int], schema_dir: Path, jsonschema_max: int = 0) -> dict[str, Any]:
    """Run every benchmark at every size (plain ``jsonschema`` only up to ``jsonschema_max`` releases, if set)."""
    env = {**os.environ, "SEMAFORO_OCDS_SCHEMA_DIR": str(schema_dir)}
    release_schema = str(schema_dir / "release-schema.json")
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "date": dt.date.today().isoformat(),
        "sizes": [],
    }
    # ocdskit's command line imports every subcommand, scikit-learn and pandas among them: a fixed cost per run.
    results["ocdskit_startup"] = measure([str(BIN / "ocdskit"), "--help"], env)
    print(f"ocdskit start-up (ocdskit --help): {results['ocdskit_startup']['seconds']:.2f} s", flush=True)
    with tempfile.TemporaryDirectory(prefix="semaforo-bench-ocds-") as tmp:
        inputs = make_inputs(sizes, Path(tmp))
        for path, count, how in (inputs[size] for size in sorted(sizes)):
            megabytes = path.stat().st_size / 1e6
            print(f"--- {count:,} releases ({megabytes:.1f} MB, {how})", flush=True)
            commands = {
                "semaforo compile": [str(BIN / "semaforo"), "compile", str(path)],
                "ocdskit compile": ["sh", "-c", f"{BIN / 'ocdskit'} compile --schema {release_schema} < {path}"],
                "semaforo validate": [str(BIN / "semaforo"), "validate", str(path)],
                "jsonschema validate": [sys.executable, "-c", JSONSCHEMA, release_schema, str(path)],
                "duckdb read_json": [sys.executable, "-c", DUCKDB, str(path)],
            }
            if jsonschema_max and count > jsonschema_max:
                del commands["jsonschema validate"]
                print(f"(plain jsonschema skipped above {jsonschema_max:,} releases: --jsonschema-max)", flush=True)
            runs = {}
            outputs = {name: Path(tmp) / f"{name.replace(' ', '-')}.out" for name in commands if "compile" in name}
            for name, command in commands.items():
                result = runs[name] = measure_typical(command, env, outputs.get(name))
                result["releases_per_second"] = round(count / result["seconds"])
                print(
                    f"{name:<22} {result['seconds']:>8.2f} s {result['releases_per_second']:>10,} rel/s "
                    f"{result['cpu_seconds']:>8.2f} CPU s {result['peak_mib']:>7.1f} MiB largest process "
                    f"{result['tree_peak_mib']:>7.1f} MiB all  (load {result['load_average']})",
                    flush=True,
                )
            ratios = {
                "compile_speedup_vs_ocdskit": round(
                    runs["ocdskit compile"]["seconds"] / runs["semaforo compile"]["seconds"], 2
                )
            }
            if "jsonschema validate" in runs:
                ratios["validate_speedup_vs_jsonschema"] = round(
                    runs["jsonschema validate"]["seconds"] / runs["semaforo validate"]["seconds"], 2
                )
            # The same bytes, or the speed-up means nothing.
            ratios["compile_output_identical"] = filecmp.cmp(*outputs.values(), shallow=False)
            for output in outputs.values():
                output.unlink()
            print(ratios, flush=True)
            print(
                f"compile peak memory: {runs['semaforo compile']['peak_mib']:.0f} MiB largest process, "
                f"{runs['semaforo compile']['tree_peak_mib']:.0f} MiB all processes; validate: "
                f"{runs['semaforo validate']['peak_mib']:.0f} / {runs['semaforo validate']['tree_peak_mib']:.0f} MiB",
                flush=True,
            )
            results["sizes"].append(
                {"releases": count, "megabytes": round(megabytes, 1), "input": how, "runs": runs, "ratios": ratios}
            )
    return results


def to_markdown(results: dict[str, Any]) -> str:
    """Render the results as a Markdown table."""
    if not results.get("sizes"):
        return ""
    lines = [
        f"Measured {results['date']} on {results['machine']['cpus']} CPUs, Python {results['machine']['python']}. "
        "Peak memory: resident set of the largest process (exact) and proportional set of all the command's "
        f"processes together (sampled every {SAMPLE_INTERVAL} s).",
        "",
        "| releases | step | seconds | releases/s | CPU seconds | peak MiB, largest process | "
        "peak MiB, all processes | load average |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for size in results["sizes"]:
        for name, run_ in size["runs"].items():
            lines.append(
                f"| {size['releases']:,} | {name} | {run_['seconds']:.2f} | {run_['releases_per_second']:,} | "
                f"{run_.get('cpu_seconds', '')} | {run_['peak_mib']:.1f} | {run_.get('tree_peak_mib', '')} | "
                f"{run_.get('load_average', '')} |"
            )
    lines.append("")
    if "ocdskit_startup" in results:
        startup = results["ocdskit_startup"]
        lines.append(
            f"- `ocdskit --help` (its start-up, part of every `ocdskit compile` above): {startup['seconds']:.2f} s, "
            f"{startup['cpu_seconds']} CPU s"
        )
    for size in results["sizes"]:
        ratios = size["ratios"]
        validate = ratios.get("validate_speedup_vs_jsonschema")
        lines.append(
            f"- {size['releases']:,} releases ({size.get('input', 'simulated')}): compile "
            f"×{ratios['compile_speedup_vs_ocdskit']} vs ocdskit"
            + (" (byte-identical output)" if ratios.get("compile_output_identical") else "")
            + ", validate "
            + (f"×{validate} vs jsonschema" if validate else "not run against jsonschema")
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    """Parse arguments, run, write the results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--sizes",
        default="20000,100000",
        help="comma-separated numbers of releases for the OCDS steps (e.g. 100000,1000000; empty: skip them)",
    )
    parser.add_argument(
        "--jsonschema-max",
        type=int,
        default=0,
        help="run plain jsonschema (about 1,300 releases/s) only up to this many releases (default: every size)",
    )
    parser.add_argument(
        "--pipeline-sizes",
        default="10000,100000",
        help="comma-separated numbers of simulated procedures for the whole-pipeline benchmark (1000000 takes long)",
    )
    parser.add_argument(
        "--indicator-sizes",
        default="100000",
        help="comma-separated numbers of contracting processes for the scoring benchmark (bench.indicators), e.g. "
        "100000,1000000 (1M takes long); empty skips it",
    )
    parser.add_argument(
        "--work",
        default="",
        help="keep the pipeline benchmark's simulated universes and data roots in this folder (default: a temporary "
        "one, deleted at the end)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="with --work: reuse its universe and skip the pipeline steps already measured there",
    )
    parser.add_argument(
        "--rerun-from",
        choices=[*STEPS, "nights"],
        help="with --work: measure this step of the full rebuild and every later one again, and both nights "
        "('nights': the nights alone, on the history as it is)",
    )
    parser.add_argument(
        "--night-runs",
        type=int,
        default=3,
        help="measure the night on the history and on an empty root this many times, in pairs, and report the "
        "median (default: 3)",
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
    # A section that is not run keeps its previous results, so that either can be rerun on its own.
    previous = json.loads((HERE / "results.json").read_text()) if (HERE / "results.json").exists() else {}
    from bench import pipeline

    ocds_sizes = [int(s) for s in args.sizes.split(",") if s]
    if ocds_sizes:
        results = run(ocds_sizes, Path(args.schema_dir), args.jsonschema_max)
        results["sizes"] = pipeline.merged(previous.get("sizes", []), results["sizes"], "releases")
    else:
        results = {key: previous[key] for key in ("machine", "date", "sizes") if key in previous}

    if (args.resume or args.rerun_from) and not args.work:
        parser.error("--resume and --rerun-from need --work")
    if args.night_runs < 1:
        parser.error("--night-runs must be at least 1")
    with contextlib.ExitStack() as stack:
        work = args.work or stack.enter_context(tempfile.TemporaryDirectory(prefix="semaforo-bench-"))
        Path(work).mkdir(parents=True, exist_ok=True)
        sizes = []
        for procedures in [int(s) for s in args.pipeline_sizes.split(",") if s]:
            print(f"--- pipeline, {procedures:,} simulated procedures", flush=True)
            sizes.append(
                pipeline.run_size(
                    procedures, Path(args.schema_dir), Path(work), args.resume, args.rerun_from, args.night_runs
                )
            )
            print(pipeline.to_markdown({"sizes": sizes[-1:]}), flush=True)
    # Sizes measured now replace their previous results; the other sizes keep theirs (each says when it was measured).
    sizes = pipeline.merged(previous.get("pipeline", {}).get("sizes", []), sizes)
    results["pipeline"] = {"sizes": sizes, "slopes": pipeline.slopes(sizes)}
    if args.indicator_sizes:
        from bench import indicators

        with tempfile.TemporaryDirectory(prefix="semaforo-bench-indicators-") as work:
            counts = [int(s) for s in args.indicator_sizes.split(",") if s]
            fresh = indicators.run(counts, Path(args.schema_dir), indicators.BASE, Path(work))
        kept = pipeline.merged(previous.get("indicators", {}).get("sizes", []), fresh["sizes"], "processes")
        results["indicators"] = {**fresh, "sizes": kept, "slopes": indicators.slopes(kept)}
        print(indicators.to_markdown(results["indicators"]), flush=True)
    elif "indicators" in previous:
        results["indicators"] = previous["indicators"]
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    markdown = to_markdown(results) + "\n" + pipeline.to_markdown(results["pipeline"])
    if "indicators" in results:
        from bench import indicators

        markdown += "\n" + indicators.to_markdown(results["indicators"])
    (HERE / "results.md").write_text(markdown)
    if sizes:
        pipeline.plot(results["pipeline"], HERE / "results.png")
    print(f"wrote {HERE / 'results.json'}, {HERE / 'results.md'} and {HERE / 'results.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
