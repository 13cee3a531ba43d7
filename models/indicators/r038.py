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

from models.indicators import (
    Context,
    Indicator,
    Outcome,
    fmt,
    organization_ids,
    quartiles,
    register,
    upper_fence,
)
from models.indicators.settings import decimal, natural

Counts = dict[str, list[int]]  # organization id → [disqualified, submitted]


def _add(counts: Counts, key: str, disqualified: int, submitted: int) -> None:
    pair = counts.setdefault(key, [0, 0])
    pair[0] += disqualified
    pair[1] += submitted


def _flag_group(outcome: Outcome, group: str, counts: Counts, minimum: int, threshold: float | None) -> None:
    ratios = {key: d / s for key, (d, s) in counts.items() if s >= minimum}
    if not ratios:
        return
    if threshold is None:
        q1, q3 = quartiles(ratios.values())
        outcome.meta.update({f"{group}_q1": q1, f"{group}_q3": q3})
        fence = upper_fence(q1, q3)
    else:
        fence = threshold
    outcome.meta[f"{group}_upper_fence"] = fence
    # A ratio is never negative: a fence of 0 means most organisations disqualify nothing, so flag nothing.
    if not fence > 0.0:
        return
    for key, ratio in ratios.items():
        if ratio >= fence:
            disqualified, submitted = counts[key]
            outcome.flag(
                group,
                key,
                ratio,
                threshold=fence,
                explanation=f"{disqualified} of {submitted} submitted bids disqualified (ratio {fmt(ratio)}), at or "
                f"above the upper fence of {fmt(fence)} among {len(ratios)} {group} organisations",
            )


def compute(context: Context, options: dict[str, Any]) -> Outcome:
    """Flag buyers, procuring entities and tenderers with an outlying share of disqualified bids."""
    outcome = Outcome()
    buyers: Counts = {}
    entities: Counts = {}
    tenderers: Counts = {}
    for release, bids in zip(context.releases, context.submitted(), strict=True):
        if not bids:
            continue
        disqualified = 0
        for bid in bids:
            increment = 1 if bid["status"] == "disqualified" else 0
            disqualified += increment
            for tenderer in organization_ids(bid.get("tenderers")):
                _add(tenderers, tenderer, increment, 1)
        buyer = release.get("buyer")
        if isinstance(buyer, dict) and isinstance(buyer.get("id"), str):
            _add(buyers, buyer["id"], disqualified, len(bids))
        tender = release.get("tender")
        entity = tender.get("procuringEntity") if isinstance(tender, dict) else None
        if isinstance(entity, dict) and isinstance(entity.get("id"), str):
            _add(entities, entity["id"], disqualified, len(bids))
    minimum_processes = options["minimum_contracting_processes"]
    _flag_group(outcome, "Buyer", buyers, minimum_processes, options["threshold"])
    _flag_group(outcome, "ProcuringEntity", entities, minimum_processes, options["threshold"])
    _flag_group(outcome, "Tenderer", tenderers, options["minimum_submitted_bids"], options["threshold"])
    return outcome


R038 = register(
    Indicator(
        code="R038",
        name="Excessive disqualified bids",
        stage="award",
        fields=("bids/details/status", "bids/details/tenderers/id", "buyer/id", "tender/procuringEntity/id"),
        formula="disqualified / submitted bids per organisation >= Q3 + 1.5·IQR within its group",
        compute=compute,
        defaults={"threshold": None, "minimum_submitted_bids": 2, "minimum_contracting_processes": 2},
        reasons={
            "threshold": "unset: the upper fence Q3 + 1.5·IQR per group (Cardinal's default)",
            "minimum_submitted_bids": "Cardinal's default: one bid says nothing about a tenderer's disqualifications",
            "minimum_contracting_processes": "Cardinal's default, applied (as Cardinal does) to submitted bids",
        },
        options={"threshold": decimal, "minimum_submitted_bids": natural, "minimum_contracting_processes": natural},
    )
)
