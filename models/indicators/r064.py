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

from models.indicators import Context, Indicator, Outcome, register
from models.indicators.postaward import objects
from models.indicators.settings import natural


def compute(context: Context, options: dict[str, Any]) -> Outcome:
    """Flag processes whose contracts were amended."""
    outcome = Outcome()
    minimum: int = options["minimum_amendments"]
    for release in context.releases:
        counted = [
            len(objects(contract.get("amendments")))
            for contract in objects(release.get("contracts"))
            if contract.get("status") != "cancelled"
        ]
        total = sum(counted)
        if total >= max(minimum, 1):
            outcome.flag(
                "OCID",
                release["ocid"],
                float(total),
                threshold=float(max(minimum, 1)),
                explanation=f"{total} amendment(s) to {sum(1 for c in counted if c)} contract(s)",
            )
    return outcome


R064 = register(
    Indicator(
        code="R064",
        name="Contract has modifications",
        stage="contract",
        fields=("contracts/status", "contracts/amendments/id"),
        formula="number of contracts/amendments of contracts not cancelled >= minimum_amendments",
        compute=compute,
        defaults={"minimum_amendments": 1},
        reasons={"minimum_amendments": "OCP 2024 guide: a contract with any amendment is flagged"},
        options={"minimum_amendments": natural},
    )
)
