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

from models.indicators import Context, Indicator, Outcome, organization_ids, register, sole_id
from models.indicators.concentration import Hit, buyer_id, flag_worst
from models.indicators.postaward import objects
from models.indicators.settings import natural


def compute(context: Context, options: dict[str, Any]) -> Outcome:
    """Flag recurring sets of tenderers at one buyer whose members take turns to win."""
    outcome = Outcome()
    sets: dict[tuple[str, frozenset[str]], list[tuple[str, str]]] = {}
    for release, bids in zip(context.releases, context.submitted(), strict=True):
        buyer = buyer_id(release)
        active = [award for award in objects(release.get("awards")) if award.get("status") == "active"]
        winner = sole_id(active[0].get("suppliers")) if len(active) == 1 else None
        tenderers = frozenset(t for bid in bids for t in organization_ids(bid.get("tenderers")))
        if buyer is None or winner is None or len(tenderers) < options["minimum_tenderers"]:
            continue
        sets.setdefault((buyer, tenderers), []).append((release["ocid"], winner))
    hits: list[Hit] = []
    for (buyer, tenderers), processes in sorted(sets.items(), key=lambda item: (item[0][0], sorted(item[0][1]))):
        wins = Counter(winner for _, winner in processes if winner in tenderers)
        if len(processes) < options["minimum_processes"] or len(wins) < 2:
            continue
        ocids = [ocid for ocid, _ in processes]
        members = ", ".join(sorted(tenderers))
        turns = ", ".join(f"{member} {count}" for member, count in sorted(wins.items()))
        explanation = (
            f"the same {len(tenderers)} tenderers ({members}) bid in {len(processes)} processes of {buyer} and took "
            f"turns to win (wins: {turns})"
        )
        count = float(len(processes))
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
        compute=compute,
        defaults={"minimum_tenderers": 3, "minimum_processes": 3},
        reasons={
            "minimum_tenderers": "two firms alternating is ordinary competition; a ring needs three or more",
            "minimum_processes": "the fewest contests in which turns can come round to a second winner and repeat",
        },
        options={"minimum_tenderers": natural, "minimum_processes": natural},
    )
)
