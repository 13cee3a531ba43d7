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

from models.indicators import Context, Indicator, Outcome, fmt, register, sole_id
from models.indicators.postaward import moment, money, objects
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


def compute(context: Context, options: dict[str, Any]) -> Outcome:
    """Flag awards to suppliers incorporated less than the maximum age before the award."""
    outcome = Outcome()
    for release in context.releases:
        for award in objects(release.get("awards")):
            supplier = sole_id(award.get("suppliers")) if award.get("status") == "active" else None
            when, value = moment(award.get("date")), money(award)
            if supplier is None or when is None:
                continue
            founded = incorporated(supplier, when.date())
            if founded is None or (value[0] if value else 0.0) < options["minimum_amount"]:
                continue
            age = (when.date() - founded).days
            if age < options["maximum_age_days"]:
                amount = f"{fmt(value[0])} {value[1]}" if value else "an award without a value"
                explanation = (
                    f"{supplier} was incorporated on {founded.isoformat()} (per its RFC), {age} days before winning "
                    f"{amount} on {when.date().isoformat()}; limit {options['maximum_age_days']} days"
                )
                for group, key in (("OCID", release["ocid"]), ("Tenderer", supplier)):
                    outcome.flag(
                        group,
                        key,
                        float(age),
                        threshold=float(options["maximum_age_days"]),
                        explanation=explanation,
                        ocid=release["ocid"],
                    )
    return outcome


S002 = register(
    Indicator(
        code="S002",
        name="New supplier wins an award",
        stage="award",
        fields=("awards/status", "awards/date", "awards/value", "awards/suppliers/id"),
        formula="days(awards/date − incorporation date in the supplier's RFC) < maximum_age_days",
        compute=compute,
        defaults={"maximum_age_days": 365, "minimum_amount": 0.0},
        reasons={
            "maximum_age_days": "IMCO's compliance pillar: firms under 1 year old (REFERENCE §6.7)",
            "minimum_amount": "IMCO counts every award to a young firm; raise it to keep only large awards",
        },
        options={"maximum_age_days": natural, "minimum_amount": decimal},
    )
)
