"""R059 Large difference between the award value and the final contract amount (OCP 2024 guide; not in Cardinal).

Formula: for each contract whose ``contracts/status`` is ``active`` or ``pending`` and whose ``contracts/awardID``
names an ``active`` award, gap = (``contracts/value`` − ``awards/value``) / ``awards/value``, both in one currency.
Flag the process when the gap is above ``threshold``; with ``threshold`` unset, flag a gap ≥ the upper fence
Q3 + 1.5·IQR of the positive gaps of the run (a fence of 0 or less flags nothing).

Defaults: ``threshold = 0.3`` (the OCP guide's example: 30%); ``threshold = fence`` uses the fence.

Why it is a red flag: a contract signed or amended well above the award means the price that won the competition was
not the price paid (OCP 2024 guide; the CRI's "value increase").

Output: OCID → the largest gap over the process's contracts (0.3 = 30%). Meta (fence only): q1, q3, upper_fence.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from models.grouped import flagged
from models.indicators import Indicator, Observed, Outcome, fmt, pct, register
from models.indicators.concentration import decimal_or_fence, exceeds, upper_or_threshold
from models.indicators.observations import Observation, Row, Views, register_observation
from models.indicators.postaward import money


def _gap(views: Views) -> list[Row]:
    """Return the largest gap over the process's contracts (the first one, on a tie)."""
    best: Row | None = None
    for contract, award in views.linked:
        if contract.get("status") not in ("active", "pending") or award is None or award.get("status") != "active":
            continue
        value, awarded = money(contract), money(award)
        if value is None or awarded is None or value[1] != awarded[1] or awarded[0] <= 0:
            continue
        gap = (value[0] - awarded[0]) / awarded[0]
        if best is None or gap > best[0]:
            best = (gap, str(contract.get("id")), awarded[0], value[0], value[1])
    return [] if best is None else [best]


GAPS = register_observation(
    Observation(
        "obs_contract_award_gaps",
        (
            ("gap", pa.float64()),
            ("contract_id", pa.string()),
            ("award_amount", pa.float64()),
            ("contract_amount", pa.float64()),
            ("currency", pa.string()),
        ),
        _gap,
        "The largest (contracts/value − awards/value) / awards/value of a process's active or pending contracts "
        "linked to an active award, both in one currency",
    )
)


def decide(observed: Observed, options: dict[str, Any]) -> Outcome:
    """Flag processes whose contract value exceeds the award value by more than the threshold or fence."""
    outcome = Outcome()
    rows = observed.joined(GAPS.name, "o.gap, o.contract_id, o.award_amount, o.contract_amount, o.currency")
    gaps = rows.column("gap").to_numpy()
    fixed = options["threshold"] is not None
    line, meta = upper_or_threshold(gaps[gaps > 0], options["threshold"])
    if not fixed:
        outcome.meta.update(meta)
    if line is None or (not fixed and not line > 0):
        return outcome
    for row in flagged(rows, exceeds(gaps, line, fixed)):
        outcome.flag(
            "OCID",
            row["ocid"],
            row["gap"],
            threshold=line,
            explanation=f"contract {row['contract_id']} is worth {fmt(row['contract_amount'])} {row['currency']}, "
            f"{pct(row['gap'])} above its award of {fmt(row['award_amount'])} (line: {pct(line)}"
            f"{'' if fixed else ', upper fence'})",
        )
    return outcome


R059 = register(
    Indicator(
        code="R059",
        name="Contract value exceeds the award value",
        stage="contract",
        fields=(
            "awards/id",
            "awards/status",
            "awards/value",
            "contracts/awardID",
            "contracts/status",
            "contracts/value",
        ),
        formula="(contracts/value − awards/value) / awards/value > threshold (or ≥ upper fence of positive gaps)",
        decide=decide,
        observes=(GAPS.name,),
        defaults={"threshold": 0.3},
        reasons={"threshold": "OCP 2024 guide's example of 30%; unset uses Q3 + 1.5·IQR of the positive gaps"},
        options={"threshold": decimal_or_fence},
    )
)
