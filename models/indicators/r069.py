"""R069 Contract amendments increase the price (OCP 2024 guide, REFERENCE §6.2; not in Cardinal).

Formula: for each ``active`` contract with at least one amendment, linked to its award through
``contracts/awardID``, increase = (``contracts/value`` − ``awards/value``) / ``awards/value``, both amounts in one
currency. Flag the process when the increase is above ``threshold``. Without the award's value, the earliest
amendment's ``previousValue`` (project extension) stands for the original. The OCP guide also accepts a price rise
stated in the amendment's rationale; free text is not read here.

Defaults: ``threshold = 0`` (any increase: the OCP definition has no size; R059 applies one).

Why it is a red flag: raising the price after the award lets a bidder win low and be paid more, out of the other
bidders' sight (OCP 2024 guide; the CRI's "value increase", REFERENCE §6.6).

Output: OCID → the largest increase over the process's contracts (0.25 = 25%).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from models.indicators import Indicator, Observed, Outcome, fmt, pct, register
from models.indicators.observations import Observation, Row, Views, register_observation
from models.indicators.postaward import flag_above, money, objects, original_value
from models.indicators.settings import decimal


def _increase(views: Views) -> list[Row]:
    """Return the amended active contract with the largest increase over its original value (the first, on a tie)."""
    worst: Row | None = None
    for contract, award in views.linked:
        if contract.get("status") != "active" or not objects(contract.get("amendments")):
            continue
        value, before = money(contract), original_value(contract, award)
        if value is None or before is None or value[1] != before[1] or before[0] <= 0:
            continue
        increase = (value[0] - before[0]) / before[0]
        if worst is None or increase > worst[0]:
            worst = (increase, str(contract.get("id")), before[0], value[0], value[1])
    return [] if worst is None else [worst]


INCREASES = register_observation(
    Observation(
        "obs_value_increases",
        (
            ("increase", pa.float64()),
            ("contract_id", pa.string()),
            ("original_amount", pa.float64()),
            ("amount", pa.float64()),
            ("currency", pa.string()),
        ),
        _increase,
        "The largest (contracts/value − original value) / original value over a process's amended active "
        "contracts, both in one currency (original: the award's value, else the earliest previousValue)",
    )
)


def _explain(row: dict[str, Any]) -> str:
    return (
        f"contract {row['contract_id']} was amended from {fmt(row['original_amount'])} to "
        f"{fmt(row['amount'])} {row['currency']} (+{pct(row['increase'])})"
    )


def decide(observed: Observed, options: dict[str, Any]) -> Outcome:
    """Flag processes with an amended active contract worth more than its award."""
    columns = "o.increase, o.contract_id, o.original_amount, o.amount, o.currency"
    return flag_above(observed, INCREASES.name, "increase", columns, options["threshold"], _explain)


R069 = register(
    Indicator(
        code="R069",
        name="Contract amendments increase the price",
        stage="contract",
        fields=(
            "contracts/status",
            "contracts/amendments",
            "contracts/value",
            "contracts/awardID",
            "awards/value",
            "contracts/amendments/previousValue",
        ),
        formula="active amended contract: (contracts/value − awards/value) / awards/value > threshold",
        decide=decide,
        observes=(INCREASES.name,),
        defaults={"threshold": 0.0},
        reasons={"threshold": "OCP 2024 guide: any rise in an amended contract's price (R059 sets a size)"},
        options={"threshold": decimal},
    )
)
