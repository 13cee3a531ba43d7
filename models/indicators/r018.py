"""R018 Single bid received — Cardinal's exact semantics (REFERENCE §6.1).

Flag a process when ``tender/numberOfTenderers`` is a number equal to 1 and ``tender/procurementMethod`` is in
``procurement_methods`` (default ``open|selective``). Bids are not counted, and a missing method does not match;
normalisation fills ``numberOfTenderers`` from the bids, so the fallbacks of the OCP definition are honoured upstream.

Why it is a red flag: a competitive procedure that attracts one bid may have been tailored to one firm (OCP 2024
guide; Fazekas' CRI uses single bidding as its outcome proxy).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from models.indicators import Flag, Indicator, register, skip_process


def compute(compiled: Iterable[dict[str, Any]], settings: dict[str, Any]) -> Iterator[Flag]:
    """Yield a flag for each single-bid competitive process."""
    methods = set(settings["procurement_methods"])
    for release in compiled:
        if skip_process(release, settings.get("exclusions", ())):
            continue
        tender = release.get("tender") or {}
        count = tender.get("numberOfTenderers")
        if (
            isinstance(count, int | float)
            and not isinstance(count, bool)
            and count == 1
            and tender.get("procurementMethod") in methods
        ):
            yield {
                "indicator": "R018",
                "unit": "process",
                "ocid": release["ocid"],
                "unit_id": release["ocid"],
                "value": 1.0,
                "threshold": 1,
                "explanation": f"numberOfTenderers = 1 in a {tender.get('procurementMethod')} procedure "
                f"({tender.get('procurementMethodDetails', 'no details')})",
                "fields": "tender/numberOfTenderers, tender/procurementMethod",
            }


R018 = register(
    Indicator(
        code="R018",
        name="Single bid received",
        stage="award",
        fields=("tender/numberOfTenderers", "tender/procurementMethod"),
        formula="numberOfTenderers == 1 and procurementMethod in procurement_methods",
        compute=compute,
        defaults={"procurement_methods": ("open", "selective"), "exclusions": ()},
        reasons={"procurement_methods": "Cardinal's default scope; direct awards have one bidder by design"},
    )
)
