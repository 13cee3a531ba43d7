"""R062 Decision period extremely long (OCP 2024 guide; not in Cardinal).

Formula: the decision period of R061 (days from ``tender/tenderPeriod/endDate`` to the earliest active
``awards/date``). Flag the period ≥ the upper fence Q3 + 1.5·IQR (type 8) of the periods of processes with the same
``tender/procurementMethod``, computed only for methods with at least ``minimum_processes`` periods and only when the
fence is positive; or, with ``threshold`` set, a period strictly above it for every method.

Defaults: ``threshold`` unset (fence per method, OCP 2024 guide); ``minimum_processes = 10`` (quartiles of fewer
periods move with every process).

Why it is a red flag: a long wait after the bids are opened leaves room to negotiate with one bidder, or to
disqualify the others (the CRI's decision-period component, REFERENCE §6.6).

Output: OCID → decision period in days. Meta: ``<method>_q1``, ``<method>_q3``, ``<method>_upper_fence``.
"""

from __future__ import annotations

from typing import Any

from models.indicators import Indicator, Observed, Outcome, register
from models.indicators.concentration import decimal_or_fence
from models.indicators.postaward import fence_by_method
from models.indicators.r061 import PERIODS, decision_periods
from models.indicators.settings import natural


def decide(observed: Observed, options: dict[str, Any]) -> Outcome:
    """Flag processes decided extremely slowly for their method."""
    outcome = Outcome()
    fence_by_method(
        outcome,
        decision_periods(observed),
        side="upper",
        threshold=options["threshold"],
        minimum=options["minimum_processes"],
        describe="a decision period",
    )
    return outcome


R062 = register(
    Indicator(
        code="R062",
        name="Decision period extremely long",
        stage="award",
        fields=("tender/tenderPeriod/endDate", "awards/date", "awards/status", "tender/procurementMethod"),
        formula="days(first active awards/date − tenderPeriod/endDate) >= upper fence per procurementMethod",
        decide=decide,
        observes=(PERIODS.name,),
        defaults={"threshold": None, "minimum_processes": 10},
        reasons={
            "threshold": "unset: the upper fence per method (OCP 2024 guide); a fixed number of days replaces it",
            "minimum_processes": "quartiles of fewer than 10 periods move with every process",
        },
        options={"threshold": decimal_or_fence, "minimum_processes": natural},
    )
)
