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

import numpy as np
import pyarrow as pa

from models.grouped import numbers
from models.indicators import Observed, fmt
from models.indicators.concentration import MARKET_SQL, Hit, awarded_values, clusters, main_currency, threshold_for

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
PROCESSES_SQL = f"""
SELECT p.rank, p.ocid, p.buyer_id, p.sole_supplier_id, {MARKET_SQL} AS item_class, epoch_us(p.started) AS started,
       p.year, p.method, CASE WHEN p.tender_currency = $currency THEN p.tender_amount END AS estimate
FROM {{processes}} AS p
WHERE p.buyer_id IS NOT NULL AND p.started IS NOT NULL AND p.year IS NOT NULL
ORDER BY p.rank
"""


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


@dataclass(frozen=True)
class Purchases:
    """Every process with a buyer, a date and an amount in the main currency, as arrays in process order."""

    table: pa.Table  # rank, ocid, buyer_id, sole_supplier_id, item_class, started (µs since 1970, UTC), year, method
    amount: np.ndarray
    line: np.ndarray

    def take(self, mask: np.ndarray) -> list[Purchase]:
        """Return the selected purchases as objects (a few: those near the threshold)."""
        rows = self.table.filter(pa.array(mask, pa.bool_())).to_pylist()
        return [
            Purchase(
                ocid=row["ocid"],
                buyer=row["buyer_id"],
                supplier=row["sole_supplier_id"],
                item_class=row["item_class"],
                when=EPOCH + dt.timedelta(microseconds=row["started"]),
                year=row["year"],
                amount=amount,
                line=line,
                method=row["method"],
            )
            for row, amount, line in zip(rows, self.amount[mask].tolist(), self.line[mask].tolist(), strict=True)
        ]

    def method_is(self, name: str) -> np.ndarray:
        """Return a mask of the purchases made with one procurement method."""
        methods = self.table.column("method").to_numpy(zero_copy_only=False)
        return np.asarray(methods == name, dtype=bool)

    def just_below(self, distance: float) -> np.ndarray:
        """Return a mask of the amounts below the line by at most ``distance`` of it."""
        return (self.line * (1 - distance) <= self.amount) & (self.amount < self.line)


def purchases(observed: Observed, thresholds: dict[int, float], digits: int) -> Purchases:
    """Return every process with a buyer, a date and an amount in the main currency, as purchases (once per run)."""
    key = f"splitting.purchases:{digits}:{sorted(thresholds.items())}"
    found: Purchases = observed.once(key, lambda obs: _purchases(obs, thresholds, digits))
    return found


def _purchases(observed: Observed, thresholds: dict[int, float], digits: int) -> Purchases:
    currency = main_currency(observed)
    table = observed.query(PROCESSES_SQL, {"currency": currency, "digits": digits})
    awards = awarded_values(observed, digits)
    ranks = table.column("rank").to_numpy()
    # Each process's awards in the main currency, summed in award order (a running sum, to the last bit).
    at = np.searchsorted(ranks, awards.column("rank").to_numpy())
    mine = at < len(ranks)
    mine[mine] = ranks[at[mine]] == awards.column("rank").to_numpy()[mine]
    won = np.bincount(at[mine], weights=awards.column("amount").to_numpy()[mine], minlength=len(ranks))
    awarded = np.bincount(at[mine], minlength=len(ranks)) > 0
    estimate = numbers(table.column("estimate"))
    has_estimate = ~np.isnan(estimate)
    keep = has_estimate | awarded
    amount = np.where(has_estimate, estimate, won)[keep]
    table = table.filter(pa.array(keep, pa.bool_()))
    years, inverse = np.unique(table.column("year").to_numpy(), return_inverse=True)
    line = np.asarray([threshold_for(thresholds, int(year)) for year in years], dtype=float)[inverse]
    return Purchases(table, amount, line)


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
