"""Precision and recall of the indicators against the simulator's planted patterns, and the CRI's held-out AUC.

The simulator (``transforms.sources.simulator``) plants risk patterns and writes their ground truth. A universe goes
through the real chain — mapping (``to_releases``), compiling (``compile_releases`` with the official schema),
flattening (``transforms.tables.flatten``) — and :func:`evaluate` compares each pattern's planted units with the units
its indicators flag (:data:`PATTERN_INDICATORS`): processes (OCID group) for process patterns, buyers for
``supplier_concentration``. A process is a true positive when it is flagged and planted with the pattern; precision
is measured against that pattern alone, so a flag that fires on another real risk counts as a false positive here.

``bid_rotation`` is mapped to R057 (bid rotation: one set of tenderers meeting repeatedly at a buyer and taking turns
to win), the OCP flag that describes the planted ring; ``new_supplier_large_award`` to S002 (supplier incorporated,
per its RFC, less than a year before the award).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa

REPO = Path(__file__).resolve().parent.parent
OCDS_SCHEMA_DIR = REPO.parent / "shared" / "ocds" / "1.1.5"
PREFIX = "ocds-sem4f0"
# Two calendar years, so that yearly shares, HHIs and year controls have more than one period.
DEFAULT_START, DEFAULT_END = dt.date(2025, 1, 1), dt.date(2026, 12, 31)

# Pattern → (indicators that should find it, the unit the ground truth names).
PATTERN_INDICATORS: dict[str, tuple[tuple[str, ...], str]] = {
    "single_bid": (("R018",), "process"),
    "short_submission": (("R003",), "process"),
    "amendment_increase": (("R069", "R059"), "process"),
    "amendment_extension": (("S001",), "process"),
    "split_purchase": (("R011", "R049", "R055"), "process"),
    "supplier_concentration": (("R040",), "buyer"),
    "identical_bids": (("R028",), "process"),
    "late_winning_bid": (("R030",), "process"),
    "lowest_bid_disqualified": (("R036",), "process"),
    "close_bids": (("R024",), "process"),
    "bid_rotation": (("R057",), "process"),
    "new_supplier_large_award": (("S002",), "process"),
}
GROUP_OF_UNIT = {"process": "OCID", "buyer": "Buyer"}


@dataclass(frozen=True)
class Built:
    """A simulated universe, its compiled releases and its core tables."""

    universe: Any
    compiled: list[dict[str, Any]]
    tables: dict[str, pa.Table]


@lru_cache(maxsize=4)
def build_universe(
    procedures: int = 6000,
    seed: int = 11,
    start: dt.date = DEFAULT_START,
    end: dt.date = DEFAULT_END,
    schema_dir: Path = OCDS_SCHEMA_DIR,
) -> Built:
    """Simulate, map, compile and flatten a universe (cached: tests and the evaluation share one build)."""
    from transforms import tables
    from transforms.ocds.compile import compile_releases
    from transforms.ocds.mapping import to_releases
    from transforms.ocds.schema import release_schema
    from transforms.settings import load_settings
    from transforms.sources.simulator import STAGES, SimulationConfig, simulate

    universe = simulate(SimulationConfig(seed=seed, procedures=procedures, start=start, end=end))
    releases, _ = to_releases(((stage, r) for stage in STAGES for r in universe.records[stage]), PREFIX)
    # The shared copy of the official schema where it exists (tests, CI); else the configured or cached download.
    settings = load_settings(ocds_schema_dir=schema_dir) if schema_dir.is_dir() else load_settings()
    schema = release_schema(settings)
    compiled = list(compile_releases(releases, schema))
    rows = tables.flatten(compiled)
    return Built(universe, compiled, {name: tables.to_arrow(name, table) for name, table in rows.items()})


def planted(universe: Any) -> dict[str, set[str]]:
    """Return each pattern's planted units: ocids for process patterns, buyer ids for buyer patterns."""
    truth: dict[str, set[str]] = {pattern: set() for pattern in PATTERN_INDICATORS}
    for row in universe.ground_truth:
        pattern = row["pattern"]
        if pattern not in truth:
            continue
        if PATTERN_INDICATORS[pattern][1] == "buyer":
            truth[pattern].add(f"MX-CPA-{row['buyer']}")
        elif row["numero_procedimiento"]:
            truth[pattern].add(f"{PREFIX}-{row['numero_procedimiento']}")
    return truth


def _score(flagged: set[str], truth: set[str]) -> dict[str, Any]:
    hits = len(flagged & truth)
    return {
        "planted": len(truth),
        "flagged": len(flagged),
        "true_positives": hits,
        "precision": hits / len(flagged) if flagged else None,
        "recall": hits / len(truth) if truth else None,
    }


def evaluate(
    procedures: int = 6000, seed: int = 11, *, settings: Any = None, train_cri: bool = True
) -> dict[str, Any]:
    """Return per pattern and indicator the precision and recall, and the CRI's held-out AUC for single bidding."""
    from models.indicators import run

    built = build_universe(procedures, seed)
    report = run(built.compiled, settings)
    truth = planted(built.universe)
    rows = []
    for pattern, (codes, unit) in PATTERN_INDICATORS.items():
        group = GROUP_OF_UNIT[unit]
        union: set[str] = set()
        for code in codes:
            outcome = report.outcomes.get(code)
            flagged = {key for g, key in outcome.results if g == group} if outcome else set()
            union |= flagged
            rows.append({"pattern": pattern, "indicator": code, "unit": unit, **_score(flagged, truth[pattern])})
        if len(codes) > 1:
            rows.append(
                {"pattern": pattern, "indicator": "+".join(codes), "unit": unit, **_score(union, truth[pattern])}
            )
    result: dict[str, Any] = {"procedures": procedures, "seed": seed, "patterns": rows}
    if train_cri:
        from models.risk_index import train

        _, metrics = train(built.tables, seed)
        result["cri"] = metrics
    return result


def render(result: dict[str, Any]) -> str:
    """Return the evaluation as a Markdown table."""

    def number(value: float | None) -> str:
        return "—" if value is None else f"{value:.3f}"

    lines = [
        f"Simulated universe: {result['procedures']} procedures, seed {result['seed']}.",
        "",
        "| pattern | indicator | unit | planted | flagged | TP | precision | recall |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in result["patterns"]:
        lines.append(
            f"| {row['pattern']} | {row['indicator']} | {row['unit']} | {row['planted']} | {row['flagged']} | "
            f"{row['true_positives']} | {number(row['precision'])} | {number(row['recall'])} |"
        )
    if "cri" in result:
        cri = result["cri"]
        lines += [
            "",
            f"CRI held-out AUC for single bidding: {number(cri['auc_cri_held_out'])} (full model "
            f"{number(cri['auc_model_held_out'])}, controls alone {number(cri['auc_controls_held_out'])}); kept "
            f"components: {json.dumps(cri['kept'])}.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the evaluation of a simulated universe as Markdown (``--json`` for the raw numbers)."""
    parser = argparse.ArgumentParser(prog="python -m models.evaluation", description=main.__doc__)
    parser.add_argument("--procedures", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = evaluate(args.procedures, args.seed)
    print(json.dumps(result, indent=2, default=str) if args.json else render(result), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
