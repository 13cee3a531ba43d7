"""S001 Contract lengthened by amendments (Semáforo; the CRI's "contract lengthening", REFERENCE §6.6).

There is no OCP code for it: the OCP guide leaves extensions to R064/R069 (REFERENCE §6.2).

Formula: for each contract (not ``cancelled``) with amendments, the original end date is the earliest amendment's
``previousEndDate`` (project extension) and the final one is the latest of ``contracts/period/endDate`` and every
``newEndDate`` (amendments signed out of their numbering order restate an older end, which compiling keeps);
extension = (final end − original end) / (original end − ``contracts/period/startDate``). Flag the process when the
largest extension over its contracts is above ``threshold``. A contract without a start date, or whose original
duration is not positive, is skipped.

Defaults: ``threshold = 0`` (any lengthening): the opentender/CRI component counts every extension and scores its
size in bands, which ``models.risk_index`` estimates; the value here carries the size.

Why it is a red flag: more time is a benefit the losing bidders were not offered, and a common way to pay for a
contract that is running late (Fazekas et al.; REFERENCE §6.6).

Output: OCID → extension as a share of the original duration (0.5 = half as long again).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from models.indicators import Indicator, Observed, Outcome, fmt, pct, register
from models.indicators.observations import Observation, Row, Views, register_observation
from models.indicators.postaward import days_between, final_end, flag_above, objects, original_end
from models.indicators.settings import decimal


def _extension(views: Views) -> list[Row]:
    """Return the amended contract lengthened most for its original duration (the first one, on a tie)."""
    worst: Row | None = None
    for contract in views.contracts:
        if contract.get("status") == "cancelled" or not objects(contract.get("amendments")):
            continue
        period = contract.get("period")
        start = period.get("startDate") if isinstance(period, dict) else None
        before, after = original_end(contract), final_end(contract)
        duration, extension = days_between(start, before), days_between(before, after)
        if duration is None or extension is None or duration <= 0:
            continue
        ratio = extension / duration
        if worst is None or ratio > worst[0]:
            worst = (ratio, str(contract.get("id")), extension, duration)
    return [] if worst is None else [worst]


EXTENSIONS = register_observation(
    Observation(
        "obs_contract_extensions",
        (
            ("ratio", pa.float64()),
            ("contract_id", pa.string()),
            ("extension_days", pa.float64()),
            ("duration_days", pa.float64()),
        ),
        _extension,
        "The largest extension ÷ original duration over a process's amended contracts not cancelled (original end: "
        "the earliest previousEndDate; final end: the latest of period/endDate and every newEndDate)",
    )
)


def _explain(row: dict[str, Any]) -> str:
    return (
        f"contract {row['contract_id']} was extended by {fmt(row['extension_days'])} days on an "
        f"original duration of {fmt(row['duration_days'])} days (+{pct(row['ratio'])})"
    )


def decide(observed: Observed, options: dict[str, Any]) -> Outcome:
    """Flag processes whose contracts were lengthened by amendments."""
    columns = "o.ratio, o.contract_id, o.extension_days, o.duration_days"
    return flag_above(observed, EXTENSIONS.name, "ratio", columns, options["threshold"], _explain)


S001 = register(
    Indicator(
        code="S001",
        name="Contract lengthened by amendments",
        stage="contract",
        fields=(
            "contracts/period/startDate",
            "contracts/period/endDate",
            "contracts/amendments/previousEndDate",
            "contracts/amendments/newEndDate",
        ),
        formula="(final endDate − original endDate) / (original endDate − startDate) > threshold",
        decide=decide,
        observes=(EXTENSIONS.name,),
        defaults={"threshold": 0.0},
        reasons={"threshold": "any lengthening (the CRI's contract-lengthening component); the value is its size"},
        options={"threshold": decimal},
    )
)
