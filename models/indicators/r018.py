"""R018 Single bid received — Cardinal's exact semantics (REFERENCE §6.1).

Formula: flag a process when ``tender/numberOfTenderers`` is a number equal to 1 and ``tender/procurementMethod`` is
in ``procurement_methods``. Bids are not counted, and a missing method does not match a non-empty list (an empty list
matches every method); normalisation fills ``numberOfTenderers`` from the bids, so the fallbacks of the OCP definition
are honoured upstream.

Defaults: ``procurement_methods = open|selective``.

Why it is a red flag: a competitive procedure that attracts one bid may have been tailored to one firm (OCP 2024
guide; Fazekas' CRI uses single bidding as its outcome proxy).

Output: OCID → 1.0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from models.grouped import flagged, flags
from models.indicators import Indicator, Observed, Outcome, is_number, register
from models.indicators.observations import Observation, Row, Views, register_observation
from models.indicators.settings import pipe_separated


def _single(views: Views) -> list[Row]:
    tender = views.tender
    count = tender.get("numberOfTenderers") if tender is not None else None
    # REFERENCE: "a number equal to 1", so 1.0 counts too (Cardinal's serde reads only the integer 1).
    if tender is None or not (is_number(count) and count == 1):
        return []
    method = tender.get("procurementMethod")
    return [
        (f"numberOfTenderers = 1 in a {method} procedure ({tender.get('procurementMethodDetails', 'no details')})",)
    ]


SINGLE_BIDS = register_observation(
    Observation(
        "obs_single_bids",
        (("explanation", pa.string()),),
        _single,
        "Processes whose tender/numberOfTenderers is a number equal to 1, with the method and details as published",
    )
)


def decide(observed: Observed, options: dict[str, Any]) -> Outcome:
    """Flag each single-bid process of the selected methods."""
    outcome = Outcome()
    methods: frozenset[str] = options["procurement_methods"]
    rows = observed.joined(SINGLE_BIDS.name, "p.method, o.explanation")
    hit = np.ones(rows.num_rows, dtype=bool)
    if methods:
        hit = flags(pc.is_in(rows.column("method"), pa.array(sorted(methods), pa.string())))
    for row in flagged(rows, hit):
        outcome.flag("OCID", row["ocid"], 1.0, threshold=1.0, explanation=row["explanation"])
    return outcome


R018 = register(
    Indicator(
        code="R018",
        name="Single bid received",
        stage="award",
        fields=("tender/numberOfTenderers", "tender/procurementMethod"),
        formula="numberOfTenderers == 1 and procurementMethod in procurement_methods",
        decide=decide,
        observes=(SINGLE_BIDS.name,),
        defaults={"procurement_methods": frozenset({"open", "selective"})},
        reasons={"procurement_methods": "Cardinal's default scope; direct awards have one bidder by design"},
        options={"procurement_methods": pipe_separated},
    )
)
