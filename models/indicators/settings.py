"""Settings for a run of the indicators, with Cardinal's meaning (REFERENCE §6.1), and the parsers of option values.

Values arrive as INI text (``models.indicators.cardinal``) or as Python values from code; every parser accepts both,
so an indicator validates its options the same way whichever door they came through.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from transforms.errors import SettingsError


class IndicatorSettingsError(SettingsError):
    """An indicator setting is unknown or has an invalid value."""


@dataclass(frozen=True)
class IndicatorSettings:
    """Global rules plus the indicators to run; ``indicators=None`` runs every registered one with its defaults."""

    # The main currency; None means "the first currency observed" (Cardinal's rule).
    currency: str | None = None
    # Despite their names these match tender/procurementMethodDetails, as in Cardinal.
    no_price_comparison_procurement_methods: frozenset[str] = frozenset()
    price_comparison_procurement_methods: frozenset[str] = frozenset()
    # [exclusions] procurement_method_details: processes skipped by every indicator.
    exclusions: frozenset[str] = frozenset()
    indicators: Mapping[str, Mapping[str, Any]] | None = field(default=None)


def pipe_separated(value: Any) -> frozenset[str]:
    """Parse a pipe-separated list (``open|selective``); an empty string is the empty set."""
    if isinstance(value, str):
        parts = value.split("|")
        # Rust's split_terminator: a trailing separator does not add an empty item.
        if parts and parts[-1] == "":
            parts.pop()
        return frozenset(parts)
    if isinstance(value, list | tuple | set | frozenset) and all(isinstance(v, str) for v in value):
        return frozenset(value)
    raise IndicatorSettingsError(f"{value!r} is not a pipe-separated list")


def integer(value: Any) -> int:
    """Parse a whole number (may be negative)."""
    if isinstance(value, bool):
        raise IndicatorSettingsError(f"{value!r} is not a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise IndicatorSettingsError(f"{value!r} is not a whole number")


def natural(value: Any) -> int:
    """Parse a natural number (0, 1, 2 …), like Cardinal's ``usize`` settings."""
    number = integer(value)
    if number < 0:
        raise IndicatorSettingsError(f"{value!r} is not a natural number")
    return number


def decimal(value: Any) -> float:
    """Parse a finite decimal number."""
    if isinstance(value, bool):
        raise IndicatorSettingsError(f"{value!r} is not a decimal number")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise IndicatorSettingsError(f"{value!r} is not a decimal number") from None
    else:
        raise IndicatorSettingsError(f"{value!r} is not a decimal number")
    if not math.isfinite(number):
        raise IndicatorSettingsError(f"{value!r} is not a finite number")
    return number


def days_by_details(value: Any) -> dict[str, int]:
    """Parse a mapping of ``procurementMethodDetails`` → whole days (R003's per-details thresholds)."""
    if not isinstance(value, Mapping):
        raise IndicatorSettingsError(f"{value!r} is not a mapping of procurementMethodDetails to days")
    return {str(details): integer(days) for details, days in value.items()}
