"""R050 High market share at a buyer (OCP 2024 guide; not in Cardinal).

Formula: as R040, within one market: S(k, b, m, t) = Σ award value of supplier k at buyer b in market m in year t ÷
Σ award value of b in m in t, where m is the first ``digits`` characters of the process's first item classification
(``tender/items/classification/id``, else ``awards/items``), e.g. ``CUCOP-253`` (medicines). Cells with fewer than
``minimum_contracting_processes`` awarded processes are skipped. Flag S strictly above ``threshold`` (or ≥ the fence
with ``threshold = fence``).

Defaults: ``threshold = 0.4`` (the OCP guide's example); ``digits = 3`` (the CUCOP partida genérica, see
``models.indicators.concentration``); ``minimum_contracting_processes = 10`` (as R040).

Why it is a red flag: a buyer that always buys one kind of good from one firm may have tailored its purchases to it.

Output: Buyer → the largest share any supplier holds in one of its markets; Tenderer → the supplier's largest share.
"""

from __future__ import annotations

from typing import Any

from models.indicators import Indicator, Observed, Outcome, register
from models.indicators.concentration import MARKET_DIGITS, share_or_fence
from models.indicators.settings import natural
from models.indicators.shares import supplier_shares


def decide(observed: Observed, options: dict[str, Any]) -> Outcome:
    """Flag suppliers with a high share of a buyer's yearly spend in one market, and the buyers."""
    return supplier_shares(observed, options, by_market=True)


R050 = register(
    Indicator(
        code="R050",
        name="High market share at a buyer",
        stage="award",
        fields=(
            "buyer/id",
            "awards/status",
            "awards/suppliers/id",
            "awards/value",
            "tender/items/classification/id",
            "awards/items/classification/id",
        ),
        formula="Σ award value of supplier k at buyer b in market m, year t / Σ award value of b in m, t > threshold",
        decide=decide,
        observes=("obs_award_values",),
        defaults={"threshold": 0.4, "digits": MARKET_DIGITS, "minimum_contracting_processes": 10},
        reasons={
            "threshold": "OCP 2024 guide's example of 40%; `fence` uses Q3 + 1.5·IQR of all shares",
            "digits": "three CUCOP digits: the partida genérica groups goods bought from one kind of firm",
            "minimum_contracting_processes": "as R040: PODER judges shares from 10 contracts (REFERENCE §6.7)",
        },
        options={"threshold": share_or_fence, "digits": natural, "minimum_contracting_processes": natural},
    )
)
