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

import pyarrow.compute as pc

from models.grouped import flagged
from models.indicators import Indicator, Observed, Outcome, pct, register
from models.indicators.concentration import Hit, exceeds, flag_worst, share_or_fence, upper_or_threshold
from models.indicators.settings import natural, pipe_separated

SHARES_SQL = """
SELECT {unit} AS unit_id, year,
       count(*) FILTER (WHERE list_contains($methods::VARCHAR[], method)) AS non_competitive,
       count(*) AS processes,
       min(rank) AS first
FROM {{processes}}
WHERE method IS NOT NULL AND year IS NOT NULL AND {unit} IS NOT NULL
GROUP BY ALL
ORDER BY first
"""


def decide(observed: Observed, options: dict[str, Any]) -> Outcome:
    """Flag buyers and procuring entities with an outlying share of non-competitive procedures."""
    outcome = Outcome()
    methods = sorted(options["non_competitive_methods"])
    threshold, fixed = options["threshold"], options["threshold"] is not None
    hits: list[Hit] = []
    for group, unit in (("Buyer", "buyer_id"), ("ProcuringEntity", "procuring_entity_id")):
        # One row per (organisation, year), in order of first appearance.
        counts = observed.query(SHARES_SQL.format(unit=unit), {"methods": methods})
        counts = counts.filter(pc.greater_equal(counts.column("processes"), options["minimum_contracting_processes"]))
        shares = counts.column("non_competitive").to_numpy() / counts.column("processes").to_numpy()
        line, meta = upper_or_threshold(shares, threshold)
        if not fixed:
            outcome.meta.update({f"{group}_{name}": value for name, value in meta.items()})
        if line is None or (not fixed and not line > 0):
            continue
        hit = exceeds(shares, line, fixed)
        for row, ratio in zip(flagged(counts, hit), shares[hit].tolist(), strict=True):
            hits.append(
                (
                    group,
                    row["unit_id"],
                    ratio,
                    line,
                    f"{row['non_competitive']} of {row['processes']} procedures in {row['year']} used a "
                    f"non-competitive method ({pct(ratio)}), above the {'threshold' if fixed else 'upper fence'} of "
                    f"{pct(line)}",
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
        decide=decide,
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
