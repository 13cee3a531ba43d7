"""R035 All except winning bid disqualified — Cardinal's exact semantics (REFERENCE §6.1).

Formula: for a process with final awards (``awards`` and ``bids/details`` arrays; every award with a string status is
active, cancelled or unsuccessful, so a pending award drops it): exactly one distinct tenderer has ``valid`` bids, that
set equals the set of suppliers of the ``active`` awards, and the number of distinct other tenderers with
``disqualified`` bids is ≥ threshold. Invited, pending and withdrawn bids are ignored, as are cancelled and
unsuccessful awards. Several active awards to the same one supplier still count as one winner.

Defaults: ``threshold = 1`` (values below 1 are raised to 1, as in Cardinal, else every single-bid award would flag).

Why it is a red flag: disqualifying every competitor on technicalities steers the contract to one firm.

Output: OCID → number of disqualified tenderers; Tenderer → 0.0 for the winner.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from models.grouped import flagged
from models.indicators import Indicator, Observed, Outcome, organization_ids, register
from models.indicators.observations import Observation, Row, Views, register_observation
from models.indicators.settings import natural


def _disqualified(views: Views) -> list[Row]:
    if views.final is None:
        return []
    active, details = views.final
    suppliers = {supplier for award in active for supplier in organization_ids(award.get("suppliers"))}
    valid: dict[str, None] = {}
    disqualified: dict[str, None] = {}
    for bid in details:
        if not isinstance(bid, dict):
            continue
        status = bid.get("status")
        target = valid if status == "valid" else disqualified if status == "disqualified" else None
        if target is not None and isinstance(bid.get("tenderers"), list):
            target.update(dict.fromkeys(organization_ids(bid["tenderers"])))
    # Not applicable to several winners: a buyer may merge bids into one award and sign several contracts.
    if len(valid) != 1 or set(valid) != suppliers:
        return []
    winner = next(iter(valid))
    others = [tenderer for tenderer in disqualified if tenderer != winner]
    return [(winner, others)] if others else []


DISQUALIFIED = register_observation(
    Observation(
        "obs_disqualified_rivals",
        (("winner", pa.string()), ("disqualified", pa.list_(pa.string()))),
        _disqualified,
        "Processes with final awards whose only valid tenderer is the active awards' only supplier, with the other "
        "tenderers that were disqualified (at least one)",
    )
)


def decide(observed: Observed, options: dict[str, Any]) -> Outcome:
    """Flag processes in which every bidder but the winner was disqualified."""
    outcome = Outcome()
    threshold = max(options["threshold"], 1)
    rows = observed.joined(DISQUALIFIED.name, "o.winner, o.disqualified")
    counts = pc.list_value_length(rows.column("disqualified")).to_numpy(zero_copy_only=False)
    for row in flagged(rows, counts >= threshold):
        ocid, winner, others = row["ocid"], row["winner"], row["disqualified"]
        outcome.flag(
            "OCID",
            ocid,
            float(len(others)),
            threshold=float(threshold),
            explanation=f"{winner} is the only valid bidder and won; {len(others)} other tenderer(s) were "
            f"disqualified ({', '.join(others)}), at least the threshold of {threshold}",
        )
        outcome.flag(
            "Tenderer",
            winner,
            0.0,
            threshold=float(threshold),
            explanation=f"won {ocid} as the only valid bidder after {len(others)} other tenderer(s) were disqualified",
            ocid=ocid,
        )
    return outcome


R035 = register(
    Indicator(
        code="R035",
        name="All except winning bid disqualified",
        stage="award",
        fields=("bids/details/status", "bids/details/tenderers/id", "awards/status", "awards/suppliers/id"),
        formula="one valid tenderer == the active awards' suppliers and >= threshold other tenderers disqualified",
        decide=decide,
        observes=(DISQUALIFIED.name,),
        defaults={"threshold": 1},
        reasons={"threshold": "Cardinal's default: one disqualified competitor is enough to look"},
        options={"threshold": natural},
    )
)
