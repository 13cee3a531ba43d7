"""R057 Bid rotation (OCP 2024 guide; not in Cardinal).

Formula: for each buyer (``buyer/id``), take the processes with one ``active`` award to one supplier (the winner)
and at least ``minimum_tenderers`` distinct tenderers among submitted bids (``bids/details/tenderers/id``; status a
string other than ``invited`` or ``withdrawn``), and group them by their exact set of tenderers. Flag a set that bid in
at least ``minimum_processes`` of the buyer's processes and won with at least two different members: every process of
the set, every member and the buyer.

Defaults: ``minimum_tenderers = 3`` (two firms alternating is ordinary; a ring needs members to take turns);
``minimum_processes = 3`` (the smallest number of contests in which a turn can come round to a second winner and
repeat).

Why it is a red flag: the same firms meeting in contest after contest and taking turns to win is how a bidding ring
shares a market out while looking competitive (OCP 2024 guide, R057).

Output: OCID → processes of its set; Tenderer → wins of the member within the set; Buyer → the largest set's
processes.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pyarrow as pa

from models.indicators import Indicator, Observed, Outcome, organization_ids, register
from models.indicators.concentration import Hit, flag_worst
from models.indicators.observations import Observation, Row, Views, register_observation
from models.indicators.settings import natural


def _tenderers(views: Views) -> list[Row]:
    # A set of fewer than two tenderers can never hold two different winners: nothing to observe.
    tenderers = sorted({t for bid in views.submitted for t in organization_ids(bid.get("tenderers"))})
    return [(tenderers,)] if len(tenderers) >= 2 else []


TENDERER_SETS = register_observation(
    Observation(
        "obs_tenderer_sets",
        (("tenderers", pa.list_(pa.string())),),
        _tenderers,
        "The distinct tenderer ids of a process's submitted bids, sorted, where there are at least two",
    )
)
SETS_SQL = """
SELECT p.buyer_id, o.tenderers, list(p.ocid ORDER BY p.rank) AS ocids,
       list(p.sole_supplier_id ORDER BY p.rank) AS winners
FROM obs_tenderer_sets AS o JOIN {processes} AS p USING (ocid)
WHERE p.buyer_id IS NOT NULL AND p.sole_supplier_id IS NOT NULL AND len(o.tenderers) >= $minimum_tenderers
GROUP BY p.buyer_id, o.tenderers
HAVING count(*) >= $minimum_processes
   AND count(DISTINCT p.sole_supplier_id) FILTER (WHERE list_contains(o.tenderers, p.sole_supplier_id)) >= 2
"""


def decide(observed: Observed, options: dict[str, Any]) -> Outcome:
    """Flag recurring sets of tenderers at one buyer whose members take turns to win."""
    outcome = Outcome()
    # Each set of a buyer whose processes meet the minimum and whose members won at least two of them.
    sets = observed.query(
        SETS_SQL,
        {"minimum_tenderers": options["minimum_tenderers"], "minimum_processes": options["minimum_processes"]},
    ).to_pylist()
    hits: list[Hit] = []
    for found in sorted(sets, key=lambda row: (row["buyer_id"], row["tenderers"])):
        buyer, tenderers, ocids = found["buyer_id"], found["tenderers"], found["ocids"]
        wins = Counter(winner for winner in found["winners"] if winner in tenderers)
        members = ", ".join(tenderers)
        turns = ", ".join(f"{member} {count}" for member, count in sorted(wins.items()))
        explanation = (
            f"the same {len(tenderers)} tenderers ({members}) bid in {len(ocids)} processes of {buyer} and took "
            f"turns to win (wins: {turns})"
        )
        count = float(len(ocids))
        hits += [("OCID", ocid, count, float(options["minimum_processes"]), explanation, [ocid]) for ocid in ocids]
        hits += [("Tenderer", member, float(wins.get(member, 0)), None, explanation, ocids) for member in tenderers]
        hits.append(("Buyer", buyer, count, float(options["minimum_processes"]), explanation, ocids))
    flag_worst(outcome, hits)
    return outcome


R057 = register(
    Indicator(
        code="R057",
        name="Bid rotation",
        stage="award",
        fields=(
            "bids/details/tenderers/id",
            "bids/details/status",
            "awards/status",
            "awards/suppliers/id",
            "buyer/id",
        ),
        formula="one set of ≥ minimum_tenderers tenderers bids in ≥ minimum_processes processes of a buyer and ≥ 2 "
        "members win",
        decide=decide,
        observes=(TENDERER_SETS.name,),
        defaults={"minimum_tenderers": 3, "minimum_processes": 3},
        reasons={
            "minimum_tenderers": "two firms alternating is ordinary competition; a ring needs three or more",
            "minimum_processes": "the fewest contests in which turns can come round to a second winner and repeat",
        },
        options={"minimum_tenderers": natural, "minimum_processes": natural},
    )
)
