"""R038 Excessive disqualified bids — Cardinal's exact semantics (REFERENCE §6.1).

Formula: for every process with submitted bids (status a string other than ``invited`` or ``withdrawn``), add its
disqualified and submitted bid counts to its buyer (``buyer/id``) and procuring entity
(``tender/procuringEntity/id``), and each bid (1 submitted, 1 disqualified if so) to each of its tenderers. ratio =
disqualified / submitted per organization. Within each group, keep organizations with enough submitted bids, flag a
ratio ≥ the upper fence Q3 + 1.5·IQR (type 8) of the kept ratios, and flag nothing when the fence is ≤ 0.

Defaults: ``minimum_submitted_bids = 2`` (tenderers); ``minimum_contracting_processes = 2`` (buyers and procuring
entities) — despite its name Cardinal compares it with the *submitted bid* count, and so do we; ``threshold`` unset
(computed fence) — a fixed value replaces the fence in every group.

Why it is a red flag: an organisation that disqualifies an unusual share of bids may be steering awards.

Output: Buyer / ProcuringEntity / Tenderer → ratio. Meta: ``<Group>_q1``, ``<Group>_q3``, ``<Group>_upper_fence``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from models.grouped import first_seen
from models.indicators import Indicator, Observed, Outcome, fmt, organization_ids, quartiles, register, upper_fence
from models.indicators.observations import Observation, Row, Views, register_observation
from models.indicators.settings import decimal, natural


def _processes(views: Views) -> list[Row]:
    bids = views.submitted
    if not bids:
        return []
    return [(sum(1 for bid in bids if bid["status"] == "disqualified"), len(bids))]


def _tenderers(views: Views) -> list[Row]:
    counts: dict[str, list[int]] = {}
    for bid in views.submitted:
        increment = 1 if bid["status"] == "disqualified" else 0
        for tenderer in organization_ids(bid.get("tenderers")):
            pair = counts.setdefault(tenderer, [0, 0])
            pair[0] += increment
            pair[1] += 1
    return [(position, tenderer, d, n) for position, (tenderer, (d, n)) in enumerate(counts.items())]


COUNTS = (("disqualified", pa.int64()), ("submitted", pa.int64()))
PROCESS_BIDS = register_observation(
    Observation(
        "obs_disqualified_bids",
        COUNTS,
        _processes,
        "Disqualified and submitted bids (status a string other than invited or withdrawn) of a process with any",
    )
)
TENDERER_BIDS = register_observation(
    Observation(
        "obs_tenderer_disqualified_bids",
        (("position", pa.int32()), ("tenderer_id", pa.string()), *COUNTS),
        _tenderers,
        "Per tenderer id of a process's submitted bids: its disqualified and submitted bids",
    )
)


def _flag_group(
    outcome: Outcome,
    group: str,
    counts: tuple[list[Any], np.ndarray, np.ndarray],
    minimum: int,
    threshold: float | None,
) -> None:
    keys, disqualified, submitted = counts
    kept = submitted >= minimum
    if not kept.any():
        return
    ratios = disqualified[kept] / submitted[kept]
    if threshold is None:
        q1, q3 = quartiles(ratios)
        outcome.meta.update({f"{group}_q1": q1, f"{group}_q3": q3})
        fence = upper_fence(q1, q3)
    else:
        fence = threshold
    outcome.meta[f"{group}_upper_fence"] = fence
    # A ratio is never negative: a fence of 0 means most organisations disqualify nothing, so flag nothing.
    if not fence > 0.0:
        return
    indices = np.flatnonzero(kept)
    for j in np.flatnonzero(ratios >= fence).tolist():
        i = int(indices[j])
        ratio = float(ratios[j])
        outcome.flag(
            group,
            keys[i],
            ratio,
            threshold=fence,
            explanation=f"{disqualified[i]} of {submitted[i]} submitted bids disqualified (ratio {fmt(ratio)}), at or "
            f"above the upper fence of {fmt(fence)} among {len(ratios)} {group} organisations",
        )


def _totals(keys: pa.ChunkedArray, disqualified: pa.ChunkedArray, submitted: pa.ChunkedArray) -> Any:
    """Sum counts per key (nulls skipped), keys in order of first appearance."""
    present = pc.is_valid(keys)
    codes, names = first_seen(keys.filter(present))
    return (
        names,
        np.bincount(codes, weights=disqualified.filter(present).to_numpy(), minlength=len(names)).astype(np.int64),
        np.bincount(codes, weights=submitted.filter(present).to_numpy(), minlength=len(names)).astype(np.int64),
    )


def decide(observed: Observed, options: dict[str, Any]) -> Outcome:
    """Flag buyers, procuring entities and tenderers with an outlying share of disqualified bids."""
    outcome = Outcome()
    processes = observed.joined(PROCESS_BIDS.name, "p.buyer_id, p.procuring_entity_id, o.disqualified, o.submitted")
    tenderers = observed.joined(TENDERER_BIDS.name, "o.tenderer_id, o.disqualified, o.submitted", positioned=True)
    disqualified, submitted = processes.column("disqualified"), processes.column("submitted")
    minimum_processes = options["minimum_contracting_processes"]
    _flag_group(
        outcome, "Buyer", _totals(processes.column("buyer_id"), disqualified, submitted), minimum_processes,
        options["threshold"],
    )  # fmt: skip
    _flag_group(
        outcome, "ProcuringEntity", _totals(processes.column("procuring_entity_id"), disqualified, submitted),
        minimum_processes, options["threshold"],
    )  # fmt: skip
    _flag_group(
        outcome,
        "Tenderer",
        _totals(tenderers.column("tenderer_id"), tenderers.column("disqualified"), tenderers.column("submitted")),
        options["minimum_submitted_bids"],
        options["threshold"],
    )
    return outcome


R038 = register(
    Indicator(
        code="R038",
        name="Excessive disqualified bids",
        stage="award",
        fields=("bids/details/status", "bids/details/tenderers/id", "buyer/id", "tender/procuringEntity/id"),
        formula="disqualified / submitted bids per organisation >= Q3 + 1.5·IQR within its group",
        decide=decide,
        observes=(PROCESS_BIDS.name, TENDERER_BIDS.name),
        defaults={"threshold": None, "minimum_submitted_bids": 2, "minimum_contracting_processes": 2},
        reasons={
            "threshold": "unset: the upper fence Q3 + 1.5·IQR per group (Cardinal's default)",
            "minimum_submitted_bids": "Cardinal's default: one bid says nothing about a tenderer's disqualifications",
            "minimum_contracting_processes": "Cardinal's default, applied (as Cardinal does) to submitted bids",
        },
        options={"threshold": decimal, "minimum_submitted_bids": natural, "minimum_contracting_processes": natural},
    )
)
