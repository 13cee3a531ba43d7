"""The publish step alone, on data roots the pipeline already filled: a full build versus a night on its history.

    python -m bench.publication --data DATA_ROOT --night 2026-10-31 [--empty EMPTY_ROOT] [--work DIR]

Each publication runs in its own process (peak resident memory read from the kernel) and writes to a publish root
of its own under ``--work``, reading the store and the warehouse of ``--data``:

- ``full``: the night with no previous publication (every file written);
- ``nightly``: the night on top of the previous night's publication (``--data`` must hold that night too);
- ``on_empty``: the night of ``--empty``, a data root that holds that night only (no history).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PUBLISH = """
import resource, sys, json
from pathlib import Path
from transforms import publish
from transforms.intervals import Interval
from transforms.settings import load_settings
from transforms.store import Store
data, out, key = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
settings = load_settings(data_root=out)
summary = publish.publish(settings, Interval.for_day(key), Store(data, settings.source_name), data / "warehouse" / key)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"peak_mib": round(peak, 1), "files": summary["files"], "bytes": summary["bytes"],
                  "rewritten": summary.get("rewritten"), "reused": summary.get("reused")}))
"""


def run(data: Path, out: Path, key: str) -> dict[str, Any]:
    """Publish one night in a process of its own; return seconds, peak MiB and what was written."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", PUBLISH, str(data), str(out), key], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"publish {key} failed:\n{result.stderr[-3000:]}")
    return {"seconds": round(time.perf_counter() - started, 2), **json.loads(result.stdout.splitlines()[-1])}


def main() -> None:
    """Measure full, nightly-on-history and nightly-on-empty publications; print JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--night", required=True)
    parser.add_argument("--empty", type=Path)
    parser.add_argument("--work", type=Path, default=Path("bench-publication"))
    args = parser.parse_args()
    before = (dt.date.fromisoformat(args.night) - dt.timedelta(days=1)).isoformat()
    shutil.rmtree(args.work, ignore_errors=True)
    results: dict[str, Any] = {"night": args.night, "load": os.getloadavg()}
    results["full"] = run(args.data, args.work / "full", args.night)
    results["previous"] = run(args.data, args.work / "nightly", before)
    results["nightly"] = run(args.data, args.work / "nightly", args.night)
    if args.empty:
        results["on_empty"] = run(args.empty, args.work / "empty", args.night)
        results["ratio"] = round(results["nightly"]["seconds"] / results["on_empty"]["seconds"], 2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
