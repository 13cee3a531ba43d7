"""R025 Excessive unsuccessful bids — Cardinal's exact semantics (REFERENCE §6.1).

Formula: over processes with final awards (see R024) and exactly one active award to exactly one supplier, every
distinct tenderer with a ``valid`` bid that has exactly one tenderer counts one "submitted", and one "won" if it is
that supplier. ratio = won / submitted, summed over processes. Flag a tenderer if submitted ≥ the ``percentile``-th
percentile (type 8) of all tenderers' submitted counts and ratio ≤ the lower fence Q1 − 1.5·IQR of all ratios; skip
the whole indicator when Q1 ≤ 0 or the fence ≤ 0.

Defaults: ``percentile = 75`` (only top tenderers by bids submitted are judged, as in Cardinal); ``threshold`` unset,
so the lower fence is computed from the data.

Why it is a red flag: a frequent bidder that almost never wins may be a cover bidder in a bid-rotation scheme.

Output: Tenderer → ratio. Meta: q1, q3, upper_fence (the percentile), lower_fence.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from models.grouped import first_seen, flags
from models.indicators import (
    Indicator,
    Observed,
    Outcome,
    ascending,
    fmt,
    lower_fence,
    quantile,
    quartiles,
    register,
    sole_active_supplier,
    sole_id,
)
from models.indicators.observations import Observation, Row, Views, register_observation
from models.indicators.settings import decimal, natural


def _tenderers(views: Views) -> list[Row]:
    if views.final is None:
        return []
    supplier = sole_active_supplier(views.final[0])
    if supplier is None:
        return []
    # Each tenderer counts once per process, however many bids it submitted.
    tenderers = dict.fromkeys(
        tenderer
        for bid in views.final[1]
        if isinstance(bid, dict)
        and bid.get("status") == "valid"
        and (tenderer := sole_id(bid.get("tenderers"))) is not None
    )
    return [(position, tenderer, tenderer == supplier) for position, tenderer in enumerate(tenderers)]


VALID_TENDERERS = register_observation(
    Observation(
        "obs_valid_tenderers",
        (("position", pa.int32()), ("tenderer_id", pa.string()), ("is_winner", pa.bool_())),
        _tenderers,
        "Each distinct tenderer with a valid single-tenderer bid in a process with final awards and one active award "
        "to one supplier, and whether it is that supplier",
    )
)


def decide(observed: Observed, options: dict[str, Any]) -> Outcome:
    """Flag top tenderers whose share of wins is a low outlier."""
    outcome = Outcome()
    rows = observed.joined(VALID_TENDERERS.name, "o.tenderer_id, o.is_winner", positioned=True)
    codes, tenderers = first_seen(rows.column("tenderer_id"))
    submitted = np.bincount(codes, minlength=len(tenderers))
    won = np.bincount(codes, weights=flags(rows.column("is_winner")), minlength=len(tenderers)).astype(np.int64)
    ratios = won / submitted
    top = quantile(ascending(submitted.astype(float)), options["percentile"] / 100.0)
    if options["threshold"] is None:
        q1, q3 = quartiles(ratios)
        outcome.meta.update(q1=q1, q3=q3)
        fence = lower_fence(q1, q3)
    else:
        fence, q1 = options["threshold"], 1.0
    outcome.meta.update(upper_fence=top, lower_fence=fence)
    # A ratio is never negative: if Q1 or the fence is 0, most top tenderers would be flagged.
    if not (q1 > 0.0 and fence > 0.0):
        return outcome
    for i in np.flatnonzero((submitted >= top) & (ratios <= fence)).tolist():
        ratio = float(ratios[i])
        outcome.flag(
            "Tenderer",
            tenderers[i],
            ratio,
            threshold=fence,
            explanation=f"won {won[i]} of the {submitted[i]} processes it bid in (ratio "
            f"{fmt(ratio)}), at or below the lower fence of {fmt(fence)}, while bidding at least as often as "
            f"the {options['percentile']}th percentile ({fmt(top)})",
        )
    return outcome


R025 = register(
    Indicator(
        code="R025",
        name="Excessive unsuccessful bids",
        stage="award",
        fields=("bids/details/status", "bids/details/tenderers/id", "awards/status", "awards/suppliers/id"),
        formula="won / submitted <= Q1 − 1.5·IQR and submitted >= P(percentile) of submitted counts",
        decide=decide,
        observes=(VALID_TENDERERS.name,),
        defaults={"percentile": 75, "threshold": None},
        reasons={
            "percentile": "Cardinal's default: judge only tenderers bidding at least as often as three quarters do",
            "threshold": "unset: the lower fence Q1 − 1.5·IQR of all tenderers' ratios (Cardinal's default)",
        },
        options={"percentile": natural, "threshold": decimal},
    )
)
