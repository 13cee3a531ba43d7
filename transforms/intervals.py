"""Data intervals: every task works on one half-open window ``[start, end)`` and one partition key."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

MEXICO_CITY = ZoneInfo("America/Mexico_City")


@dataclass(frozen=True)
class Interval:
    """A half-open data interval with timezone-aware bounds."""

    start: dt.datetime
    end: dt.datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("interval bounds must be timezone-aware")
        if self.end <= self.start:
            raise ValueError(f"interval end {self.end} is not after its start {self.start}")

    @property
    def key(self) -> str:
        """Partition key: the local (Mexico City) calendar date of the interval start, ``YYYY-MM-DD``."""
        return self.start.astimezone(MEXICO_CITY).date().isoformat()

    def contains(self, moment: dt.datetime) -> bool:
        """Whether ``moment`` falls in ``[start, end)``."""
        return self.start <= moment < self.end

    @classmethod
    def for_day(cls, day: dt.date | str, hour: int = 3) -> Interval:
        """The nightly interval that starts on ``day`` at ``hour``:00 Mexico City time and lasts one day."""
        if isinstance(day, str):
            day = dt.date.fromisoformat(day)
        start = dt.datetime.combine(day, dt.time(hour), tzinfo=MEXICO_CITY)
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(hour), tzinfo=MEXICO_CITY)
        return cls(start, end)

    def __str__(self) -> str:
        return f"{self.start.isoformat()}/{self.end.isoformat()}"
