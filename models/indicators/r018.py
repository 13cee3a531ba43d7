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

from models.indicators import Context, Indicator, Outcome, is_number, register
from models.indicators.settings import pipe_separated


def compute(context: Context, options: dict[str, Any]) -> Outcome:
    """Flag each single-bid process of the selected methods."""
    outcome = Outcome()
    methods: frozenset[str] = options["procurement_methods"]
    for release in context.releases:
        tender = release.get("tender")
        if not isinstance(tender, dict):
            continue
        method = tender.get("procurementMethod")
        if methods and not (isinstance(method, str) and method in methods):
            continue
        count = tender.get("numberOfTenderers")
        # REFERENCE: "a number equal to 1", so 1.0 counts too (Cardinal's serde reads only the integer 1).
        if is_number(count) and count == 1:
            outcome.flag(
                "OCID",
                release["ocid"],
                1.0,
                threshold=1.0,
                explanation=f"numberOfTenderers = 1 in a {method} procedure "
                f"({tender.get('procurementMethodDetails', 'no details')})",
            )
    return outcome


R018 = register(
    Indicator(
        code="R018",
        name="Single bid received",
        stage="award",
        fields=("tender/numberOfTenderers", "tender/procurementMethod"),
        formula="numberOfTenderers == 1 and procurementMethod in procurement_methods",
        compute=compute,
        defaults={"procurement_methods": frozenset({"open", "selective"})},
        reasons={"procurement_methods": "Cardinal's default scope; direct awards have one bidder by design"},
        options={"procurement_methods": pipe_separated},
    )
)
