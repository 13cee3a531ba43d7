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

from models.indicators import Context, Indicator, Outcome, fmt, register
from models.indicators.concentration import (
    THRESHOLDS_REASON,
    amounts_by_year,
    default_thresholds,
    threshold_for,
    years,
)
from models.indicators.postaward import contracts_with_awards, method, money, objects, original_value


def compute(context: Context, options: dict[str, Any]) -> Outcome:
    """Flag direct awards whose amendments took a contract over the competitive threshold."""
    outcome = Outcome()
    thresholds: dict[int, float] = options["thresholds"]
    for release, year in zip(context.releases, years(context), strict=True):
        if method(release) != "direct" or year is None:
            continue
        line = threshold_for(thresholds, year)
        for contract, award in contracts_with_awards(release):
            if contract.get("status") == "cancelled" or not objects(contract.get("amendments")):
                continue
            value, before = money(contract), original_value(contract, award)
            if value is None or before is None or value[1] != before[1]:
                continue
            if before[0] <= line < value[0]:
                outcome.flag(
                    "OCID",
                    release["ocid"],
                    value[0],
                    threshold=line,
                    explanation=f"direct award {contract.get('id')} was amended from {fmt(before[0])} to "
                    f"{fmt(value[0])} {value[1]}, above the {year} direct-award threshold of {fmt(line)}",
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
        compute=compute,
        defaults={"thresholds": default_thresholds()},
        reasons={"thresholds": THRESHOLDS_REASON},
        options={"thresholds": amounts_by_year},
    )
)
