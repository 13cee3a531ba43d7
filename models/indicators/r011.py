"""R011 Splitting purchases to avoid procurement thresholds (OCP 2024 guide; not in Cardinal).

Formula: among processes whose ``tender/procurementMethod`` is in ``procurement_methods``, a purchase is *just below*
the threshold when threshold(year) × (1 − ``distance``) ≤ amount < threshold(year), with the amount and dates of
``models.indicators.splitting``. Flag every such purchase that has another one by the same buyer (``buyer/id``) for
the same item class (the first ``digits`` characters of the item classification; ``0`` = the whole id) dated within
``window_days`` of it, and flag the buyer.

Defaults: ``thresholds`` = the PEF direct-award maximum per year (LAASSP art. 42) from
``transforms.sources.catalog`` — illustrative and unconfirmed, replace it for real data (``[R011.thresholds]``);
``distance = 0.02`` (the OCP guide's "within 1–2%"); ``window_days = 90`` (the OCP guide's example of 3 months);
``digits = 0`` (one item class: the whole CUCOP key); ``procurement_methods = direct`` (a competitive procedure just
below the line avoided nothing).

Why it is a red flag: splitting one need into purchases each just under the line lets a buyer award them directly
(OCP 2024 guide; LAASSP art. 42 forbids it).

Output: OCID → number of purchases in its run; Buyer → the largest run.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from models.grouped import flags
from models.indicators import Indicator, Observed, Outcome, fmt, pct, register
from models.indicators.concentration import (
    THRESHOLDS_REASON,
    amounts_by_year,
    default_thresholds,
    flag_worst,
    share,
)
from models.indicators.settings import natural, pipe_separated
from models.indicators.splitting import purchases, split_hits


def decide(observed: Observed, options: dict[str, Any]) -> Outcome:
    """Flag runs of purchases of one item class, each just below the threshold, by one buyer within a window."""
    outcome = Outcome()
    methods: frozenset[str] = options["procurement_methods"]
    found = purchases(observed, options["thresholds"], options["digits"])
    near = found.just_below(options["distance"])
    if methods:
        near &= flags(pc.is_in(found.table.column("method"), pa.array(sorted(methods), pa.string())))
    hits = split_hits(
        found.take(near),
        lambda p: (p.buyer, p.item_class),
        options["window_days"],
        lambda k, run, total: (
            f"{len(run)} purchases of {k[1]} by {k[0]} within {options['window_days']}-day steps, each "
            f"within {pct(options['distance'])} below the direct-award threshold, {fmt(total)} in all"
        ),
        lambda k: [("Buyer", k[0])],
    )
    flag_worst(outcome, hits)
    return outcome


R011 = register(
    Indicator(
        code="R011",
        name="Splitting purchases to avoid procurement thresholds",
        stage="planning",
        fields=(
            "tender/procurementMethod",
            "tender/items/classification/id",
            "tender/value",
            "awards/value",
            "tender/tenderPeriod/startDate",
            "awards/date",
            "buyer/id",
        ),
        formula="≥ 2 purchases by one buyer of one item class within window_days, each in [threshold·(1−distance), "
        "threshold)",
        decide=decide,
        observes=("obs_award_values",),
        defaults={
            "thresholds": default_thresholds(),
            "distance": 0.02,
            "window_days": 90,
            "digits": 0,
            "procurement_methods": frozenset({"direct"}),
        },
        reasons={
            "thresholds": THRESHOLDS_REASON,
            "distance": "OCP 2024 guide: each purchase within 1–2% below the threshold",
            "window_days": "OCP 2024 guide's example window of 3 months",
            "digits": "one item class: the whole classification id",
            "procurement_methods": "only a purchase kept under the line avoided a competitive procedure",
        },
        options={
            "thresholds": amounts_by_year,
            "distance": share,
            "window_days": natural,
            "digits": natural,
            "procurement_methods": pipe_separated,
        },
    )
)
