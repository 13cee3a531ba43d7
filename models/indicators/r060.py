"""R060 Long time between award and contract signature (OCP 2024 guide; not in Cardinal).

Formula: for each contract with a ``contracts/dateSigned`` whose ``contracts/awardID`` names an award with an
``awards/date`` (both RFC 3339 with an offset), delay = days from the award to the signature; a process keeps its
longest delay. Flag the delay ≥ the upper fence Q3 + 1.5·IQR (type 8) of the delays of processes with the same
``tender/procurementMethod``, computed only for methods with at least ``minimum_processes`` delays and only when the
fence is positive; or, with ``threshold`` set, a delay strictly above it for every method.

Defaults: ``threshold`` unset (fence per method, the OCP guide's alternative to a legal period); set it to the legal
period to use the law instead (LAASSP art. 46 gives 15 natural days from the fallo — confirm before use);
``minimum_processes = 10`` (quartiles of fewer delays move with every process).

Why it is a red flag: a contract signed long after the award leaves room to renegotiate what was awarded.

Output: OCID → delay in days. Meta: ``<method>_q1``, ``<method>_q3``, ``<method>_upper_fence``.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from models.indicators import Indicator, Observed, Outcome, register
from models.indicators.concentration import decimal_or_fence
from models.indicators.observations import Observation, Row, Views, register_observation
from models.indicators.postaward import days_between, fence_by_method
from models.indicators.settings import natural


def _delay(views: Views) -> list[Row]:
    """Return the longest delay from award to signature over the process's contracts."""
    longest: float | None = None
    for contract, award in views.linked:
        if award is None:
            continue
        days = days_between(award.get("date"), contract.get("dateSigned"))
        if days is not None and (longest is None or days > longest):
            longest = days
    return [] if longest is None else [(longest,)]


DELAYS = register_observation(
    Observation(
        "obs_signature_delays",
        (("days", pa.float64()),),
        _delay,
        "The longest days from awards/date to contracts/dateSigned over a process's contracts linked to an award",
    )
)


def decide(observed: Observed, options: dict[str, Any]) -> Outcome:
    """Flag processes whose contracts were signed unusually long after the award."""
    outcome = Outcome()
    fence_by_method(
        outcome,
        observed.joined(DELAYS.name, "p.method, o.days", where="p.method IS NOT NULL"),
        side="upper",
        threshold=options["threshold"],
        minimum=options["minimum_processes"],
        describe="the contract was signed after the award with a delay",
    )
    return outcome


R060 = register(
    Indicator(
        code="R060",
        name="Long time between award and contract signature",
        stage="contract",
        fields=("awards/date", "contracts/dateSigned", "contracts/awardID", "tender/procurementMethod"),
        formula="days(contracts/dateSigned − awards/date) >= upper fence per procurementMethod (or > threshold)",
        decide=decide,
        observes=(DELAYS.name,),
        defaults={"threshold": None, "minimum_processes": 10},
        reasons={
            "threshold": "unset: the upper fence per method (OCP 2024 guide); set the legal period to use it instead",
            "minimum_processes": "quartiles of fewer than 10 delays move with every process",
        },
        options={"threshold": decimal_or_fence, "minimum_processes": natural},
    )
)
