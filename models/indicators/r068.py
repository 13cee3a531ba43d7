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

from models.indicators import Context, Indicator, Outcome, fmt, register
from models.indicators.postaward import money, objects
from models.indicators.settings import decimal


def compute(context: Context, options: dict[str, Any]) -> Outcome:
    """Flag processes whose payments exceed a contract's value."""
    outcome = Outcome()
    threshold: float = options["threshold"]
    for release in context.releases:
        worst: tuple[float, str, float, float, str] | None = None
        for contract in objects(release.get("contracts")):
            value = money(contract)
            implementation = contract.get("implementation")
            if contract.get("status") == "cancelled" or value is None or value[0] <= 0:
                continue
            transactions = objects(implementation.get("transactions")) if isinstance(implementation, dict) else []
            paid = [m[0] for t in transactions if (m := money(t)) is not None and m[1] == value[1]]
            if not paid:
                continue
            ratio = sum(paid) / value[0]
            if ratio > threshold and (worst is None or ratio > worst[0]):
                worst = (ratio, str(contract.get("id")), sum(paid), value[0], value[1])
        if worst is not None:
            ratio, contract_id, paid_amount, amount, currency = worst
            outcome.flag(
                "OCID",
                release["ocid"],
                ratio,
                threshold=threshold,
                explanation=f"contract {contract_id} paid {fmt(paid_amount)} {currency} on a value of {fmt(amount)} "
                f"(ratio {fmt(ratio)})",
            )
    return outcome


R068 = register(
    Indicator(
        code="R068",
        name="Payments exceed the contract value",
        stage="implementation",
        fields=("contracts/value", "contracts/implementation/transactions/value", "contracts/status"),
        formula="Σ transactions/value / contracts/value > threshold",
        compute=compute,
        defaults={"threshold": 1.0},
        reasons={"threshold": "OCP 2024 guide: payments above the contract value"},
        options={"threshold": decimal},
    )
)
