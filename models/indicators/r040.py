"""R040 High share of a buyer's contracts (OCP 2024 guide; not in Cardinal).

Formula: S(k, b, t) = Σ ``awards/value/amount`` won by supplier k (``awards/suppliers/id``, active awards with one
supplier, main currency) at buyer b (``buyer/id``) in year t ÷ Σ of all such awards of b in t. Buyer-years with fewer
than ``minimum_contracting_processes`` awarded processes are skipped. Flag S strictly above ``threshold``, or, with
``threshold = fence``, S ≥ the upper fence Q3 + 1.5·IQR of all shares. A unit flagged more than once keeps its
largest share.

Defaults: ``threshold = 0.4`` (the OCP guide's example of 40%); ``minimum_contracting_processes = 10`` (PODER's
dominant-supplier rules judge a buyer from 10 contracts, REFERENCE §6.7: a share of a handful of awards says little).

Why it is a red flag: one firm taking a large part of a buyer's money suggests a captured relationship (OCP 2024
guide; PODER's "agente económico preponderante"; the CRI's winner share, REFERENCE §6.6).

Output: Buyer → the largest share any supplier holds of it; Tenderer → the supplier's largest share of a buyer.
"""

from __future__ import annotations

from typing import Any

from models.indicators import Indicator, Observed, Outcome, register
from models.indicators.concentration import share_or_fence
from models.indicators.settings import natural
from models.indicators.shares import supplier_shares


def decide(observed: Observed, options: dict[str, Any]) -> Outcome:
    """Flag suppliers with a high share of a buyer's yearly spend, and the buyers."""
    return supplier_shares(observed, {**options, "digits": 0}, by_market=False)


R040 = register(
    Indicator(
        code="R040",
        name="High share of a buyer's contracts",
        stage="award",
        fields=("buyer/id", "awards/status", "awards/date", "awards/suppliers/id", "awards/value"),
        formula="Σ award value of supplier k at buyer b in year t / Σ award value of b in t > threshold",
        decide=decide,
        observes=("obs_award_values",),
        defaults={"threshold": 0.4, "minimum_contracting_processes": 10},
        reasons={
            "threshold": "OCP 2024 guide's example of 40%; `fence` uses Q3 + 1.5·IQR of all shares",
            "minimum_contracting_processes": "PODER judges a buyer's shares from 10 contracts (REFERENCE §6.7)",
        },
        options={"threshold": share_or_fence, "minimum_contracting_processes": natural},
    )
)
