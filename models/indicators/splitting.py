"""Purchases near the direct-award threshold, shared by R011, R049 and R055: not an indicator.

A purchase is one process: its buyer (``buyer/id``), its sole supplier (the only ``active`` award's only supplier,
else none), its item class (the first item classification, see ``models.indicators.concentration``), its date (the
process start: ``tender/tenderPeriod/startDate``, else the award date) and its amount (``tender/value`` in the main
currency, else the sum of its active awards' values; direct awards in CompraNet carry no estimate). The line is the
direct-award threshold of the process's year.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from models.indicators import Context, fmt, sole_id
from models.indicators.concentration import (
    Hit,
    awarded,
    buyer_id,
    clusters,
    main_currency,
    market,
    moments,
    threshold_for,
    years,
)
from models.indicators.postaward import method, money, objects


@dataclass(frozen=True)
class Purchase:
    """One process seen as a purchase near the threshold."""

    ocid: str
    buyer: str
    supplier: str | None
    item_class: str | None
    when: dt.datetime
    year: int
    amount: float
    line: float
    method: str | None

    def just_below(self, distance: float) -> bool:
        """Return whether the amount lies below the line by at most ``distance`` of it."""
        return self.line * (1 - distance) <= self.amount < self.line


def purchases(context: Context, thresholds: dict[int, float], digits: int) -> list[Purchase]:
    """Return every process with a buyer, a date and an amount in the main currency, as a purchase (once per run)."""
    key = f"splitting.purchases:{digits}:{sorted(thresholds.items())}"
    found: list[Purchase] = context.once(key, lambda ctx: _purchases(ctx, thresholds, digits))
    return found


def _purchases(context: Context, thresholds: dict[int, float], digits: int) -> list[Purchase]:
    currency = main_currency(context)
    found = []
    for release, when, year in zip(context.releases, moments(context), years(context), strict=True):
        buyer = buyer_id(release)
        if buyer is None or when is None or year is None:
            continue
        tender = release.get("tender")
        estimate = money(tender) if isinstance(tender, dict) else None
        won = awarded(release, currency)
        if estimate is not None and estimate[1] == currency:
            amount = estimate[0]
        elif won:
            amount = sum(value for _, value, _ in won)
        else:
            continue
        active = [award for award in objects(release.get("awards")) if award.get("status") == "active"]
        supplier = sole_id(active[0].get("suppliers")) if len(active) == 1 else None
        found.append(
            Purchase(
                ocid=release["ocid"],
                buyer=buyer,
                supplier=supplier,
                item_class=market(release, digits),
                when=when,
                year=year,
                amount=amount,
                line=threshold_for(thresholds, year),
                method=method(release),
            )
        )
    return found


def grouped(items: list[Purchase], key: Any) -> dict[Any, list[Purchase]]:
    """Group purchases by a key function, skipping those whose key has a None part."""
    groups: dict[Any, list[Purchase]] = {}
    for item in items:
        value = key(item)
        if value is not None and None not in (value if isinstance(value, tuple) else (value,)):
            groups.setdefault(value, []).append(item)
    return groups


def split_hits(
    near: list[Purchase],
    key: Any,
    window_days: int,
    describe: Any,
    units: Any,
) -> list[Hit]:
    """Flag every run of purchases just below the threshold that share a key and fall within ``window_days`` steps.

    ``describe(key, run, total)`` words the explanation; ``units(key)`` names the (group, id) pairs flagged besides
    each process (e.g. the buyer, or the supplier and the buyer).
    """
    by_ocid = {p.ocid: p for p in near}
    hits: list[Hit] = []
    for group_key, members in sorted(grouped(near, key).items()):
        for run in clusters([(p.when, p.ocid) for p in members], window_days):
            explanation = describe(group_key, run, sum(by_ocid[o].amount for o in run))
            for ocid in run:
                purchase = by_ocid[ocid]
                detail = f"{explanation}; this one {fmt(purchase.amount)} against {fmt(purchase.line)}"
                hits.append(("OCID", ocid, float(len(run)), purchase.line, detail, [ocid]))
            for group, unit_id in units(group_key):
                hits.append((group, unit_id, float(len(run)), None, explanation, run))
    return hits
