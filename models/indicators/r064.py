"""R064 Contract has modifications (OCP 2024 guide, REFERENCE §6.2; not in Cardinal).

Formula: count the ``contracts/amendments`` of every contract whose ``contracts/status`` is not ``cancelled``; flag the
process when the count is at least ``minimum_amendments``.

Defaults: ``minimum_amendments = 1`` (the OCP definition: amendments are present).

Why it is a red flag: a contract changed after the award may no longer be the contract the other bidders competed
for; PODER's Mexican rule set flags it too (REFERENCE §6.7). Most amendments are benign, so on its own it is weak:
R069, R059, R054 and S001 say what changed.

Output: OCID → number of amendments.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from models.grouped import flagged
from models.indicators import Indicator, Observed, Outcome, register
from models.indicators.observations import Observation, Row, Views, register_observation
from models.indicators.postaward import objects
from models.indicators.settings import natural


def _amendments(views: Views) -> list[Row]:
    counted = [len(objects(c.get("amendments"))) for c in views.contracts if c.get("status") != "cancelled"]
    total = sum(counted)
    return [(total, sum(1 for count in counted if count))] if total else []


AMENDMENTS = register_observation(
    Observation(
        "obs_amendments",
        (("amendments", pa.int64()), ("amended_contracts", pa.int64())),
        _amendments,
        "The amendments of a process's contracts that are not cancelled, and how many contracts have any",
    )
)


def decide(observed: Observed, options: dict[str, Any]) -> Outcome:
    """Flag processes whose contracts were amended."""
    outcome = Outcome()
    minimum = max(options["minimum_amendments"], 1)
    rows = observed.joined(AMENDMENTS.name, "o.amendments, o.amended_contracts")
    for row in flagged(rows, rows.column("amendments").to_numpy() >= minimum):
        outcome.flag(
            "OCID",
            row["ocid"],
            float(row["amendments"]),
            threshold=float(minimum),
            explanation=f"{row['amendments']} amendment(s) to {row['amended_contracts']} contract(s)",
        )
    return outcome


R064 = register(
    Indicator(
        code="R064",
        name="Contract has modifications",
        stage="contract",
        fields=("contracts/status", "contracts/amendments/id"),
        formula="number of contracts/amendments of contracts not cancelled >= minimum_amendments",
        decide=decide,
        observes=(AMENDMENTS.name,),
        defaults={"minimum_amendments": 1},
        reasons={"minimum_amendments": "OCP 2024 guide: a contract with any amendment is flagged"},
        options={"minimum_amendments": natural},
    )
)
