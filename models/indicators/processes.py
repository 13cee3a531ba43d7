"""The observations every indicator shares: one row per process (``obs_processes``) and its awarded values.

``obs_processes`` holds what Cardinal's global rules and most indicators read of a process: its
``procurementMethodDetails`` (exclusions, price comparisons), method, buyer, procuring entity, start and year
(:func:`models.indicators.concentration.process_moment`), first item classification (markets), the sole supplier of
its only active award, its ``tender/value``, and the first currency each currency-choosing rule would see in it
(Cardinal's bid-comparing indicators, and the first active award's currency of ``concentration.main_currency``).

``obs_award_values`` holds each ``active`` award with exactly one supplier and a value (R040, R050, R051 and the
purchases of ``models.indicators.splitting``); the main currency is chosen when deciding.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from models.indicators import sole_active_supplier, sole_id
from models.indicators.concentration import buyer_id, classification, process_moment, procuring_entity_id
from models.indicators.observations import Observation, Row, Views, register_observation
from models.indicators.postaward import method, money
from models.indicators.r024 import valid_single_bids
from models.indicators.r036 import first_priced_currency

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MICROSECOND = dt.timedelta(microseconds=1)


def micros(when: dt.datetime) -> int:
    """Return an aware date-time as whole microseconds since 1970 (UTC): exact, so sorting and windows are too."""
    return (when - EPOCH) // MICROSECOND


def first_bid_currency(views: Views) -> str | None:
    """Return the first currency R024 and R058 would see if the process's prices may be compared."""
    if views.final is None or sole_active_supplier(views.final[0]) is None:
        return None
    bids = valid_single_bids(views.final[1])
    return bids[0][2] if bids else None


def _process(views: Views) -> list[Row]:
    tender = views.tender
    details = tender.get("procurementMethodDetails") if tender is not None else None
    when = process_moment(views.release)
    found = classification(views.release)
    active = views.active
    award_currency = next((value[1] for award in active if (value := money(award)) is not None), None)
    estimate = money(tender) if tender is not None else None
    return [
        (
            details if isinstance(details, str) else None,
            method(views.release),
            buyer_id(views.release),
            procuring_entity_id(views.release),
            micros(when) if when is not None else None,
            when.astimezone(dt.UTC).year if when is not None else None,
            found[0] if found is not None else None,
            found[1] if found is not None else None,
            sole_id(active[0].get("suppliers")) if len(active) == 1 else None,
            first_bid_currency(views),
            first_priced_currency(views.submitted) if active else None,
            award_currency,
            estimate[0] if estimate is not None else None,
            estimate[1] if estimate is not None else None,
        )
    ]


PROCESSES = register_observation(
    Observation(
        "obs_processes",
        (
            ("details", pa.string()),
            ("method", pa.string()),
            ("buyer_id", pa.string()),
            ("procuring_entity_id", pa.string()),
            ("started", pa.timestamp("us", tz="UTC")),
            ("year", pa.int64()),
            ("classification_scheme", pa.string()),
            ("classification_id", pa.string()),
            ("sole_supplier_id", pa.string()),
            ("bid_currency", pa.string()),
            ("submitted_currency", pa.string()),
            ("award_currency", pa.string()),
            ("tender_amount", pa.float64()),
            ("tender_currency", pa.string()),
        ),
        _process,
        "One row per process: details, method, buyer, procuring entity, start (UTC) and its year, first item "
        "classification (scheme '' when not a string), the sole supplier of the only active award, tender/value, "
        "and the first currency seen by R024/R058 (valid single-tenderer bids of final awards), by R036 (submitted "
        "bids, with an active award) and of an active award",
    )
)


def _award_values(views: Views) -> list[Row]:
    rows: list[Row] = []
    for award in views.active:
        supplier = sole_id(award.get("suppliers"))
        value = money(award)
        if supplier is not None and value is not None:
            rows.append((len(rows), supplier, value[0], value[1]))
    return rows


AWARD_VALUES = register_observation(
    Observation(
        "obs_award_values",
        (("position", pa.int32()), ("supplier_id", pa.string()), ("amount", pa.float64()), ("currency", pa.string())),
        _award_values,
        "Each active award with exactly one supplier and a numeric value, in award order",
    )
)
