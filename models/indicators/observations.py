"""OBSERVE: one streaming pass over compiled releases into the typed Arrow tables every DECIDE reads.

Each :class:`Observation` extracts, from one compiled release, the small facts an indicator family needs: a few rows
(or none, when there is nothing to observe) of one ``obs_*`` table whose first column is ``ocid``. A row depends on
its release alone — never on settings, the main currency or other processes: options, currencies, exclusions and
price-comparison lists are applied when deciding — so the pipeline can observe only the processes that changed
tonight and keep the other processes' rows from earlier nights.

Processes failing Cardinal's fixed global rules (REFERENCE §6.1: no string ``ocid``, or a ``cancelled`` tender) are
not observed, except by observations marked ``every_release`` (the tenderer counts of ``models.competition``).

:func:`observe` holds one chunk of rows as Python objects at a time, so its memory per process is constant beyond the
Arrow tables it returns. Registering an observation is importing its module (:data:`MODULES`).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from models.indicators import bid_details, final_awards, registry, submitted_bids
from models.indicators.postaward import contracts_with_awards, objects

LOG = logging.getLogger(__name__)
# Rows are turned into Arrow every CHUNK processes: enough to amortise the conversion, few enough to bound memory.
CHUNK = 20_000
PROGRESS = 100_000
# Modules that register observations besides the indicator modules (the shared process facts, tenderer counts).
MODULES = ("models.indicators.processes", "models.competition")
Row = tuple[Any, ...]


class Views:
    """The parts of one compiled release that several observations read, read once with Cardinal's tolerance."""

    __slots__ = ("active", "awards", "cancelled", "contracts", "details", "final", "linked", "ocid", "release",
                 "submitted", "tender")  # fmt: skip

    def __init__(self, release: dict[str, Any]) -> None:
        self.release = release
        self.ocid: str = release["ocid"]
        tender = release.get("tender")
        self.tender: dict[str, Any] | None = tender if isinstance(tender, dict) else None
        self.cancelled = self.tender is not None and self.tender.get("status") == "cancelled"
        self.awards = objects(release.get("awards"))
        self.active = [award for award in self.awards if award.get("status") == "active"]
        self.contracts = objects(release.get("contracts"))
        # Each contract with the award its awardID names (R054, R059, R060, R069).
        self.linked = contracts_with_awards(release)
        self.details = bid_details(release)
        self.submitted = submitted_bids(release)
        self.final = final_awards(release)


@dataclass(frozen=True)
class Observation:
    """An observation table: its name, its columns after ``ocid``, and the rows one release gives."""

    name: str
    columns: tuple[tuple[str, pa.DataType], ...]
    extract: Callable[[Views], Sequence[Row]]
    description: str
    # Observed for every release with a string ocid, even a cancelled tender (competition joins it to the tables).
    every_release: bool = False

    @property
    def schema(self) -> pa.Schema:
        """Return the table's Arrow schema (``ocid`` first)."""
        return pa.schema(
            [pa.field("ocid", pa.string(), nullable=False), *(pa.field(n, t) for n, t in self.columns)],
            metadata={"description": self.description},
        )


OBSERVATIONS: dict[str, Observation] = {}


def register_observation(observation: Observation) -> Observation:
    """Add an observation table to the registry (names are unique)."""
    if observation.name in OBSERVATIONS:
        raise ValueError(f"observation {observation.name} registered twice")
    OBSERVATIONS[observation.name] = observation
    return observation


def observations() -> dict[str, Observation]:
    """Return every observation table by name, importing the modules that register them on first use."""
    registry()
    for module in MODULES:
        importlib.import_module(module)
    return {name: OBSERVATIONS[name] for name in sorted(OBSERVATIONS)}


def observation_schemas() -> dict[str, pa.Schema]:
    """Return the Arrow schema of every observation table, by name."""
    return {name: observation.schema for name, observation in observations().items()}


class _Table:
    """The rows of one observation table: Python tuples for the current chunk, Arrow batches before it."""

    def __init__(self, observation: Observation) -> None:
        self.schema = observation.schema
        self.rows: list[Row] = []
        self.batches: list[pa.RecordBatch] = []

    def flush(self) -> None:
        if self.rows:
            columns = list(zip(*self.rows, strict=True))
            arrays = [pa.array(column, type=f.type) for column, f in zip(columns, self.schema, strict=True)]
            self.batches.append(pa.RecordBatch.from_arrays(arrays, schema=self.schema))
            self.rows = []

    def table(self) -> pa.Table:
        self.flush()
        return pa.Table.from_batches(self.batches, schema=self.schema)


def observe(compiled: Iterable[Any]) -> dict[str, pa.Table]:
    """Observe compiled releases in one streaming pass; return every observation table by name, in input order."""
    registered = list(observations().values())
    tables = {observation.name: _Table(observation) for observation in registered}
    releases = observed = skipped = 0
    for release in compiled:
        releases += 1
        if not isinstance(release, dict) or not isinstance(release.get("ocid"), str):
            skipped += 1
            continue
        views = Views(release)
        ocid = views.ocid
        for observation in registered:
            if views.cancelled and not observation.every_release:
                continue
            rows = observation.extract(views)
            if rows:
                tables[observation.name].rows.extend((ocid, *row) for row in rows)
        observed += not views.cancelled
        if releases % CHUNK == 0:
            for table in tables.values():
                table.flush()
            if releases % PROGRESS == 0:
                LOG.info("observed %d compiled releases", releases)
    LOG.info(
        "observed %d compiled releases: %d processes, %d cancelled, %d without a string ocid",
        releases,
        observed,
        releases - observed - skipped,
        skipped,
    )
    return {name: table.table() for name, table in tables.items()}
