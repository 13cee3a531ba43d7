"""The indicator registry: each indicator is one module with a code, a doc section and golden fixtures."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

Flag = dict[str, Any]


@dataclass(frozen=True)
class Indicator:
    """A red-flag indicator: what it is, where it reads, how it decides, and its configurable thresholds."""

    code: str
    name: str
    stage: str
    fields: tuple[str, ...]
    formula: str
    compute: Callable[[Iterable[dict[str, Any]], dict[str, Any]], Iterator[Flag]]
    defaults: dict[str, Any] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)

    def run(self, compiled: Iterable[dict[str, Any]], settings: dict[str, Any] | None = None) -> Iterator[Flag]:
        """Yield one flag row per flagged unit."""
        yield from self.compute(compiled, {**self.defaults, **(settings or {})})


REGISTRY: dict[str, Indicator] = {}


def register(indicator: Indicator) -> Indicator:
    """Add an indicator to the registry (codes are unique)."""
    if indicator.code in REGISTRY:
        raise ValueError(f"indicator {indicator.code} registered twice")
    REGISTRY[indicator.code] = indicator
    return indicator


def skip_process(release: dict[str, Any], exclusions: Iterable[str] = ()) -> bool:
    """Cardinal's global exclusions: non-string ocid, cancelled tender, excluded procurementMethodDetails."""
    tender = release.get("tender") or {}
    return (
        not isinstance(release.get("ocid"), str)
        or tender.get("status") == "cancelled"
        or tender.get("procurementMethodDetails") in set(exclusions)
    )


def run_all(compiled: list[dict[str, Any]], settings: dict[str, dict[str, Any]] | None = None) -> list[Flag]:
    """Run every registered indicator over compiled releases; return flag rows."""
    from models.indicators import r018  # noqa: F401  (registration side effect)

    flags: list[Flag] = []
    for code in sorted(REGISTRY):
        flags.extend(REGISTRY[code].run(compiled, (settings or {}).get(code)))
    return flags
