"""S002 New supplier wins a large award (Semáforo; IMCO's "firms under a year old", REFERENCE §6.7).

There is no OCP code for it; IMCO's compliance pillar counts awards to firms younger than a year at their first
contract, and the CRI lists "new company" (REFERENCE §6.6).

Formula: a legal person's RFC carries its date of incorporation (``AAA`` + ``YYMMDD`` + a 3-character homoclave), so
for each ``active`` award whose supplier id is ``MX-RFC-<RFC>`` with a 12-character RFC, age = days from the
incorporation date (the century that puts it on or before the award) to ``awards/date``. Flag the process and the
supplier when age < ``maximum_age_days`` and the award's value (any currency) is at least ``minimum_amount``. A
13-character RFC belongs to a natural person, whose date is a birth date, and is skipped.

Defaults: ``maximum_age_days = 365`` (IMCO: firms under 1 year old); ``minimum_amount = 0`` (IMCO counts every award
to a young firm; set a size line to keep only large ones).

Why it is a red flag: a firm incorporated shortly before winning a large contract may be a front created for it
(IMCO IRC; the SAT's "empresas fantasma" are often young).

Output: OCID and Tenderer → the supplier's age in days at the award.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import numpy as np
import pyarrow as pa

from models.grouped import flagged, numbers
from models.indicators import Indicator, Observed, Outcome, fmt, register, sole_id
from models.indicators.observations import Observation, Row, Views, register_observation
from models.indicators.postaward import moment, money
from models.indicators.settings import decimal, natural

# A legal person's RFC: 3 letters (Ñ and & occur), YYMMDD of incorporation, 3-character homoclave.
LEGAL_PERSON_RFC = re.compile(r"^MX-RFC-[A-ZÑ&]{3}(\d{2})(\d{2})(\d{2})[A-Z0-9]{3}$")


def incorporated(party_id: str, on_or_before: dt.date) -> dt.date | None:
    """Return a legal person's incorporation date from its ``MX-RFC-`` id (the latest century not after a date)."""
    match = LEGAL_PERSON_RFC.match(party_id)
    if match is None:
        return None
    yy, month, day = (int(part) for part in match.groups())
    for century in (2000, 1900):
        try:
            founded = dt.date(century + yy, month, day)
        except ValueError:
            return None
        if founded <= on_or_before:
            return founded
    return None


def _young(views: Views) -> list[Row]:
    """Return each active award to one legal person with a dated RFC: its age at the award and the award's value."""
    rows: list[Row] = []
    for award in views.awards:
        supplier = sole_id(award.get("suppliers")) if award.get("status") == "active" else None
        when = moment(award.get("date"))
        if supplier is None or when is None:
            continue
        founded = incorporated(supplier, when.date())
        if founded is None:
            continue
        value = money(award)
        rows.append(
            (
                len(rows),
                supplier,
                (when.date() - founded).days,
                founded,
                when.date(),
                value[0] if value else None,
                value[1] if value else None,
            )
        )
    return rows


AGES = register_observation(
    Observation(
        "obs_supplier_ages",
        (
            ("position", pa.int32()),
            ("supplier_id", pa.string()),
            ("age_days", pa.int64()),
            ("incorporated", pa.date32()),
            ("award_date", pa.date32()),
            ("amount", pa.float64()),
            ("currency", pa.string()),
        ),
        _young,
        "Each active award to one supplier whose id is a legal person's RFC (MX-RFC-, 12 characters): days from its "
        "incorporation to awards/date (the award's local date), and the award's value",
    )
)


def decide(observed: Observed, options: dict[str, Any]) -> Outcome:
    """Flag awards to suppliers incorporated less than the maximum age before the award."""
    outcome = Outcome()
    rows = observed.joined(
        AGES.name, "o.supplier_id, o.age_days, o.incorporated, o.award_date, o.amount, o.currency", positioned=True
    )
    # An award without a value counts as 0 against the minimum amount.
    amounts = np.nan_to_num(numbers(rows.column("amount")), nan=0.0)
    hit = (amounts >= options["minimum_amount"]) & (rows.column("age_days").to_numpy() < options["maximum_age_days"])
    for row in flagged(rows, hit):
        ocid, supplier, age = row["ocid"], row["supplier_id"], row["age_days"]
        amount = f"{fmt(row['amount'])} {row['currency']}" if row["amount"] is not None else "an award without a value"
        explanation = (
            f"{supplier} was incorporated on {row['incorporated'].isoformat()} (per its RFC), {age} days before "
            f"winning {amount} on {row['award_date'].isoformat()}; limit {options['maximum_age_days']} days"
        )
        for group, key in (("OCID", ocid), ("Tenderer", supplier)):
            outcome.flag(
                group,
                key,
                float(age),
                threshold=float(options["maximum_age_days"]),
                explanation=explanation,
                ocid=ocid,
            )
    return outcome


S002 = register(
    Indicator(
        code="S002",
        name="New supplier wins an award",
        stage="award",
        fields=("awards/status", "awards/date", "awards/value", "awards/suppliers/id"),
        formula="days(awards/date − incorporation date in the supplier's RFC) < maximum_age_days",
        decide=decide,
        observes=(AGES.name,),
        defaults={"maximum_age_days": 365, "minimum_amount": 0.0},
        reasons={
            "maximum_age_days": "IMCO's compliance pillar: firms under 1 year old (REFERENCE §6.7)",
            "minimum_amount": "IMCO counts every award to a young firm; raise it to keep only large awards",
        },
        options={"maximum_age_days": natural, "minimum_amount": decimal},
    )
)
