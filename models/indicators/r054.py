"""R054 Direct award pushed above the competitive threshold by amendments (OCP 2024 guide; not in Cardinal).

Formula: in a process with ``tender/procurementMethod`` ``direct``, a contract (not ``cancelled``) with amendments
whose ``contracts/value`` is above the direct-award threshold of the process's year while its original value (the
award's ``awards/value``, else the earliest amendment's ``previousValue``) was at or below it. The OCP formula asks
only for the amended value to exceed the threshold; requiring the original to have been within it keeps the direct
awards that were above the threshold from the start (LAASSP art. 41 exceptions, most large direct awards) out.

Defaults: ``thresholds`` = the PEF direct-award maximum per year (LAASSP art. 42) from
``transforms.sources.catalog.DIRECT_AWARD_THRESHOLDS`` — illustrative and unconfirmed, set the decree's figures for
real data (``[R054.thresholds]`` with ``2025 = 730000``); a year not listed takes the nearest listed year's figure.

Why it is a red flag: a purchase awarded directly because it was small, then amended past the line, escaped the
competition its final size required (OCP 2024 guide).

Output: OCID → the amended contract value. The threshold column holds the year's threshold.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from models.grouped import flagged
from models.indicators import Indicator, Observed, Outcome, fmt, register
from models.indicators.concentration import THRESHOLDS_REASON, amounts_by_year, default_thresholds, threshold_for
from models.indicators.observations import Observation, Row, Views, register_observation
from models.indicators.postaward import method, money, objects, original_value


def _amended(views: Views) -> list[Row]:
    """Return each amended contract of a direct award with its value and original value in one currency."""
    if method(views.release) != "direct":
        return []
    rows: list[Row] = []
    for contract, award in views.linked:
        if contract.get("status") == "cancelled" or not objects(contract.get("amendments")):
            continue
        value, before = money(contract), original_value(contract, award)
        if value is None or before is None or value[1] != before[1]:
            continue
        rows.append((len(rows), str(contract.get("id")), value[0], before[0], value[1]))
    return rows


AMENDED_DIRECT = register_observation(
    Observation(
        "obs_amended_direct_awards",
        (
            ("position", pa.int32()),
            ("contract_id", pa.string()),
            ("amount", pa.float64()),
            ("original_amount", pa.float64()),
            ("currency", pa.string()),
        ),
        _amended,
        "Each amended, not cancelled contract of a direct award with contracts/value and its original value (the "
        "award's, else the earliest amendment's previousValue) in one currency",
    )
)


def decide(observed: Observed, options: dict[str, Any]) -> Outcome:
    """Flag direct awards whose amendments took a contract over the competitive threshold."""
    outcome = Outcome()
    thresholds: dict[int, float] = options["thresholds"]
    rows = observed.joined(
        AMENDED_DIRECT.name, "p.year, o.contract_id, o.amount, o.original_amount, o.currency",
        where="p.year IS NOT NULL", positioned=True,
    )  # fmt: skip
    years, inverse = np.unique(rows.column("year").to_numpy(), return_inverse=True)
    lines = np.asarray([threshold_for(thresholds, int(year)) for year in years], dtype=float)[inverse]
    amounts, before = rows.column("amount").to_numpy(), rows.column("original_amount").to_numpy()
    hit = (before <= lines) & (lines < amounts)
    for row, line in zip(flagged(rows, hit), lines[hit].tolist(), strict=True):
        outcome.flag(
            "OCID",
            row["ocid"],
            row["amount"],
            threshold=line,
            explanation=f"direct award {row['contract_id']} was amended from {fmt(row['original_amount'])} to "
            f"{fmt(row['amount'])} {row['currency']}, above the {row['year']} direct-award threshold of {fmt(line)}",
        )
    return outcome


R054 = register(
    Indicator(
        code="R054",
        name="Direct award pushed above the threshold by amendments",
        stage="contract",
        fields=(
            "tender/procurementMethod",
            "awards/value",
            "contracts/value",
            "contracts/amendments",
            "contracts/amendments/previousValue",
        ),
        formula="method direct, amended, original value <= threshold(year) < contracts/value",
        decide=decide,
        observes=(AMENDED_DIRECT.name,),
        defaults={"thresholds": default_thresholds()},
        reasons={"thresholds": THRESHOLDS_REASON},
        options={"thresholds": amounts_by_year},
    )
)
