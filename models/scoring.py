"""The one scoring entry point for the pipeline: red flags, risk scores and competitiveness, as Arrow tables.

Scoring runs in two halves, so that a night costs what the night's data costs:

- :func:`observe` streams compiled releases once and returns the observation tables (:data:`OBSERVATION_SCHEMAS`,
  ``models.indicators.observations``): small typed facts per process, independent of every setting. The pipeline
  observes only the processes that changed and keeps the other processes' rows from earlier nights.
- :func:`score_observed` decides over a DuckDB connection holding the core tables and the observation tables (views
  over Parquet in the pipeline) and returns

  - ``out_flags``: every indicator of the registry (Cardinal's and the others), one row per flagged unit and
    indicator, sorted by indicator, unit and unit id;
  - ``out_process_scores``, ``out_buyer_scores``, ``out_supplier_scores``: the corruption-risk index
    (``models.risk_index``) with the flags behind every process, buyer and supplier;
  - ``out_competition``: competitiveness per buyer, market and year (``models.competition``).

:func:`score_all` is both halves over compiled releases and Arrow tables in memory. Nothing here reads the clock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from models.indicators.concentration import MARKET_DIGITS
from models.indicators.observations import observation_schemas, observe
from models.indicators.settings import IndicatorSettings

LOG = logging.getLogger(__name__)
OUTPUTS = ("out_flags", "out_process_scores", "out_buyer_scores", "out_supplier_scores", "out_competition")
# Every observation table by name: what the pipeline stores beside the core tables (each has an ``ocid`` column).
OBSERVATION_SCHEMAS: dict[str, pa.Schema] = observation_schemas()

__all__ = ["OBSERVATION_SCHEMAS", "OUTPUTS", "ScoringSettings", "observe", "score_all", "score_observed"]


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


def flags_table(report: Any) -> pa.Table:
    """Return ``out_flags`` for a report of ``models.indicators``, sorted by indicator, unit and unit id."""
    from models.indicators import flag_rows
    from transforms.tables import to_arrow

    table = to_arrow("out_flags", flag_rows(report))
    return table.take(
        pc.sort_indices(table, [("indicator", "ascending"), ("unit", "ascending"), ("unit_id", "ascending")])
    )


def _flags(con: Any, settings: ScoringSettings, order: pa.Array | None) -> pa.Table:
    """Decide every indicator; return ``out_flags`` (the report's Python objects go when this returns)."""
    from models import indicators

    started = time.perf_counter()
    report = indicators.decide(con, indicators_settings(settings), order=order)
    out_flags = flags_table(report)
    LOG.info("decided %d indicators: %d flags in %.1f s", len(report.outcomes), out_flags.num_rows,
             time.perf_counter() - started)  # fmt: skip
    return out_flags


def _competitiveness(con: Any, settings: ScoringSettings, currency: str) -> tuple[pa.Table, pa.Table]:
    """Return the process rows (``models.competition.processes``) and ``out_competition``."""
    from models import competition

    started = time.perf_counter()
    with competition.relations(con):
        processes = competition.processes(con, digits=settings.market_digits, currency=currency)
        out_competition = competition.competitiveness(
            con, digits=settings.market_digits, currency=currency, rows=processes
        )
    LOG.info("competitiveness: %d rows in %.1f s", out_competition.num_rows, time.perf_counter() - started)
    return processes, out_competition


def _decide(con: Any, settings: ScoringSettings, order: pa.Array | None, beside: Any = None) -> dict[str, pa.Table]:
    from models import competition, risk_index

    with competition.relations(con):
        currency = settings.currency or competition.currency_of(con)
    with ThreadPoolExecutor(1) as pool:
        # On a database of its own, competitiveness (DuckDB on one thread, so that sums add in one order) runs
        # beside the indicators and the model's loading (mostly Python): both cores work.
        pending = pool.submit(_competitiveness, beside, settings, currency) if beside is not None else None
        out_flags = _flags(con, settings, order)
        model = _model(settings)
        processes, out_competition = pending.result() if pending else _competitiveness(con, settings, currency)
    started = time.perf_counter()
    with competition.relations(con):
        digits = model.settings.market_digits if model is not None else MARKET_DIGITS
        if digits != settings.market_digits:
            processes = competition.processes(con, digits=digits, currency=currency)
        scores = risk_index.scores(con, model, currency=currency, flags=out_flags, processes=processes)
    LOG.info("scored %d processes in %.1f s", processes.num_rows, time.perf_counter() - started)
    return {"out_flags": out_flags, **scores, "out_competition": out_competition}


def indicators_settings(settings: ScoringSettings) -> IndicatorSettings:
    """Return the indicator settings of a scoring run (a mapping of code → options runs every indicator)."""
    from models.indicators import _as_settings

    return _as_settings(settings.indicators)


def score_observed(con: Any, settings: ScoringSettings | None = None, *, beside: Any = None) -> dict[str, pa.Table]:
    """Return the five outputs from a DuckDB connection's core tables and observation tables (processes in ocid order).

    ``con`` has a relation (table or view) named for each core table and each table of :data:`OBSERVATION_SCHEMAS`.
    The observation tables must hold one compiled release's rows per ocid: the latest observation of each process.
    ``beside``, another DuckDB database with the same relations, computes competitiveness in a thread meanwhile.
    """
    return _decide(con, settings or ScoringSettings(), None, beside)


def score_all(
    compiled: Iterable[dict[str, Any]],
    tables: Mapping[str, pa.Table],
    settings: ScoringSettings | None = None,
) -> dict[str, pa.Table]:
    """Return out_flags, out_process_scores, out_buyer_scores, out_supplier_scores and out_competition.

    Observes the compiled releases, registers the observations and the core tables in an in-memory DuckDB and
    decides; processes are taken in the order of ``compiled``.
    """

    from models.competition import TABLES
    from transforms.store import quiet_connect

    observed = observe(compiled)
    with quiet_connect() as con:
        for name, table in {
            **observed,
            **{n: t for n, t in tables.items() if n in (*TABLES, "core_organization_map")},
        }.items():
            con.register(name, table)
        return _decide(con, settings or ScoringSettings(), observed["obs_processes"].column("ocid"))
