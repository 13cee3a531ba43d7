"""R013 High use of non-competitive methods (OCP 2024 guide; not in Cardinal).

Formula: per buyer (``buyer/id``) and per procuring entity (``tender/procuringEntity/id``) and year (of the process
start, as the tables partition it), share = processes whose ``tender/procurementMethod`` is in
``non_competitive_methods`` ÷ processes with a method. Organisations with fewer than ``minimum_contracting_processes``
such processes in the year are skipped. Flag a share ≥ the upper fence Q3 + 1.5·IQR (type 8) of the shares of their
group, or, with ``threshold`` set, a share strictly above it. An organisation flagged in several years keeps its
highest share.

Defaults: ``threshold`` unset (the fence): the OCP guide's example of 30% would flag nearly every federal buyer, since
~79% of Mexican procedures are direct awards (REFERENCE §7), so the fence finds the buyers unusual *for Mexico*;
``non_competitive_methods = direct|limited``; ``minimum_contracting_processes = 10`` (PODER's rules judge a buyer's
shares from 10 contracts, REFERENCE §6.7).

Why it is a red flag: avoiding competition is the simplest way to choose the winner (OCP 2024 guide; IMCO's
competition pillar, REFERENCE §6.7).

Output: Buyer / ProcuringEntity → share. Meta: ``<Group>_q1``, ``<Group>_q3``, ``<Group>_upper_fence``.
"""

from __future__ import annotations

from typing import Any

from models.indicators import Context, Indicator, Outcome, pct, register
from models.indicators.concentration import (
    Hit,
    buyer_id,
    exceeds,
    flag_worst,
    procuring_entity_id,
    share_or_fence,
    upper_or_threshold,
    years,
)
from models.indicators.postaward import method
from models.indicators.settings import natural, pipe_separated


def compute(context: Context, options: dict[str, Any]) -> Outcome:
    """Flag buyers and procuring entities with an outlying share of non-competitive procedures."""
    outcome = Outcome()
    methods: frozenset[str] = options["non_competitive_methods"]
    counts: dict[str, dict[tuple[str, int], list[int]]] = {"Buyer": {}, "ProcuringEntity": {}}
    for release, year in zip(context.releases, years(context), strict=True):
        method_name = method(release)
        if method_name is None or year is None:
            continue
        for group, key in (("Buyer", buyer_id(release)), ("ProcuringEntity", procuring_entity_id(release))):
            if key is not None:
                pair = counts[group].setdefault((key, year), [0, 0])
                pair[0] += method_name in methods
                pair[1] += 1
    threshold, fixed = options["threshold"], options["threshold"] is not None
    hits: list[Hit] = []
    for group, by_unit in counts.items():
        shares = {
            unit: n / total
            for unit, (n, total) in by_unit.items()
            if total >= options["minimum_contracting_processes"]
        }
        line, meta = upper_or_threshold(shares.values(), threshold)
        if not fixed:
            outcome.meta.update({f"{group}_{name}": value for name, value in meta.items()})
        if line is None or (not fixed and not line > 0):
            continue
        for (key, year), ratio in shares.items():
            if exceeds(ratio, line, fixed):
                n, total = by_unit[key, year]
                hits.append(
                    (
                        group,
                        key,
                        ratio,
                        line,
                        f"{n} of {total} procedures in {year} used a non-competitive method ({pct(ratio)}), above "
                        f"the {'threshold' if fixed else 'upper fence'} of {pct(line)}",
                        [],
                    )
                )
    flag_worst(outcome, hits)
    return outcome


R013 = register(
    Indicator(
        code="R013",
        name="High use of non-competitive methods",
        stage="tender",
        fields=("tender/procurementMethod", "buyer/id", "tender/procuringEntity/id"),
        formula="share of processes with procurementMethod in non_competitive_methods per buyer and year >= fence",
        compute=compute,
        defaults={
            "threshold": None,
            "non_competitive_methods": frozenset({"direct", "limited"}),
            "minimum_contracting_processes": 10,
        },
        reasons={
            "threshold": "unset: the upper fence; OCP's 30% would flag almost every Mexican buyer (79% direct)",
            "non_competitive_methods": "OCDS methods without an open call (direct award, limited tender)",
            "minimum_contracting_processes": "PODER's rules judge a buyer's shares from 10 contracts (REFERENCE §6.7)",
        },
        options={
            "threshold": share_or_fence,
            "non_competitive_methods": pipe_separated,
            "minimum_contracting_processes": natural,
        },
    )
)
