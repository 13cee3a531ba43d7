"""R068 Payments exceed the contract value (OCP 2024 guide; not in Cardinal).

Formula: for each contract (not ``cancelled``) with a ``contracts/value``, paid = Σ
``contracts/implementation/transactions/value/amount`` of transactions in the contract's currency; ratio = paid /
``contracts/value/amount``. Flag the process when the ratio is above ``threshold``.

Defaults: ``threshold = 1`` (payments above the contract value, the OCP definition; raise it to tolerate rounding).

Why it is a red flag: paying more than was contracted, without an amendment, is money without a contract behind it
(OCP 2024 guide).

Output: OCID → the largest ratio over the process's contracts.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from models.indicators import Indicator, Observed, Outcome, fmt, register
from models.indicators.observations import Observation, Row, Views, register_observation
from models.indicators.postaward import flag_above, money, objects
from models.indicators.settings import decimal


def _payments(views: Views) -> list[Row]:
    """Return the contract with the largest ratio of payments to value (the first one, on a tie)."""
    worst: Row | None = None
    for contract in views.contracts:
        value = money(contract)
        implementation = contract.get("implementation")
        if contract.get("status") == "cancelled" or value is None or value[0] <= 0:
            continue
        transactions = objects(implementation.get("transactions")) if isinstance(implementation, dict) else []
        paid = [m[0] for t in transactions if (m := money(t)) is not None and m[1] == value[1]]
        if not paid:
            continue
        ratio = sum(paid) / value[0]
        if worst is None or ratio > worst[0]:
            worst = (ratio, str(contract.get("id")), sum(paid), value[0], value[1])
    return [] if worst is None else [worst]


PAYMENTS = register_observation(
    Observation(
        "obs_payment_ratios",
        (
            ("ratio", pa.float64()),
            ("contract_id", pa.string()),
            ("paid_amount", pa.float64()),
            ("contract_amount", pa.float64()),
            ("currency", pa.string()),
        ),
        _payments,
        "The largest Σ transactions/value ÷ contracts/value (same currency) over a process's contracts not cancelled",
    )
)


def _explain(row: dict[str, Any]) -> str:
    return (
        f"contract {row['contract_id']} paid {fmt(row['paid_amount'])} {row['currency']} on a value "
        f"of {fmt(row['contract_amount'])} (ratio {fmt(row['ratio'])})"
    )


def decide(observed: Observed, options: dict[str, Any]) -> Outcome:
    """Flag processes whose payments exceed a contract's value."""
    columns = "o.ratio, o.contract_id, o.paid_amount, o.contract_amount, o.currency"
    return flag_above(observed, PAYMENTS.name, "ratio", columns, options["threshold"], _explain)


R068 = register(
    Indicator(
        code="R068",
        name="Payments exceed the contract value",
        stage="implementation",
        fields=("contracts/value", "contracts/implementation/transactions/value", "contracts/status"),
        formula="Σ transactions/value / contracts/value > threshold",
        decide=decide,
        observes=(PAYMENTS.name,),
        defaults={"threshold": 1.0},
        reasons={"threshold": "OCP 2024 guide: payments above the contract value"},
        options={"threshold": decimal},
    )
)
