"""The one scoring entry point for the pipeline: red flags, risk scores and competitiveness, as Arrow tables.

:func:`score_all` takes the compiled releases and the core tables of one run and returns

- ``out_flags``: every indicator of the registry (Cardinal's and the others), one row per flagged unit and indicator
  (``models.indicators.run_all``), sorted by indicator, unit and unit id;
- ``out_process_scores``, ``out_buyer_scores``, ``out_supplier_scores``: the corruption-risk index
  (``models.risk_index``) with the flags behind every process, buyer and supplier;
- ``out_competition``: competitiveness per buyer, market and year (``models.competition``).

It reads nothing but its arguments and the model artifact, and never the clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from models.indicators.concentration import MARKET_DIGITS
from models.indicators.settings import IndicatorSettings

OUTPUTS = ("out_flags", "out_process_scores", "out_buyer_scores", "out_supplier_scores", "out_competition")


@dataclass(frozen=True)
class ScoringSettings:
    """What a scoring run uses: indicator settings, the risk model and the market definition."""

    # None runs every indicator with its defaults; a mapping of code → options (or Cardinal's INI, parsed by
    # models.indicators.cardinal) overrides them.
    indicators: IndicatorSettings | Mapping[str, Mapping[str, Any]] | None = None
    # The risk model: a trained model, a joblib path, or None for the shipped artifact (models/artifacts).
    model: Any = None
    # False leaves the CRI undefined (no model is loaded); the rest is computed as usual.
    risk_index: bool = True
    # Markets for out_competition: the first CUCOP digits (the partida genérica, as R050 and R051).
    market_digits: int = MARKET_DIGITS
    # The currency of value sums in scores and competitiveness; None picks the currency of most active awards.
    currency: str | None = None


def _model(settings: ScoringSettings) -> Any:
    from models import risk_index

    if not settings.risk_index:
        return None
    if settings.model is None or isinstance(settings.model, str | Path):
        return risk_index.load(Path(settings.model) if settings.model is not None else risk_index.ARTIFACT)
    return settings.model


def score_all(
    compiled: Sequence[dict[str, Any]],
    tables: Mapping[str, pa.Table],
    settings: ScoringSettings | None = None,
) -> dict[str, pa.Table]:
    """Return out_flags, out_process_scores, out_buyer_scores, out_supplier_scores and out_competition."""
    from models import competition, risk_index
    from models.indicators import run_all
    from transforms.tables import to_arrow

    settings = settings or ScoringSettings()
    flags = run_all(compiled, settings.indicators)
    flags.sort(key=lambda flag: (flag["indicator"], flag["unit"], flag["unit_id"]))
    out_flags = to_arrow("out_flags", flags)
    currency = settings.currency or competition.main_currency(tables)
    enriched = {**tables, "out_flags": out_flags, "tenderer_counts": competition.tenderer_counts(compiled)}
    scores = risk_index.score(enriched, _model(settings), currency=currency)
    return {
        "out_flags": out_flags,
        **scores,
        "out_competition": competition.compute(enriched, digits=settings.market_digits, currency=currency),
    }
