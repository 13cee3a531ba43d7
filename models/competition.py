"""Competitiveness metrics per buyer, per market and per year → ``out_competition`` (REFERENCE §6.4).

One row per (dimension, dimension_id, year), where dimension is ``all``, ``buyer`` (the canonical buyer id) or
``market`` (``<scheme>-<first digits of the first tender item's classification>``, e.g. ``CUCOP-253``). The metrics
are OCP's usability indicators: procedures and value by method (U010–U014), single bidding (U015, U016), mean and
median bidders (U017, U018), three or more qualified bidders (U023), the top-10 suppliers' share (U025), the market's
HHI and its DOJ band (R051), amendments per contract (U048, U056), mean tender and decision periods (U059, U060) and
overruns (U066, U067).

Everything is computed in DuckDB over the core tables: :data:`PROCESS_SQL` gives one row per process (also the input
of ``models.risk_index``), :data:`COMPETITION_SQL` aggregates it. Identifiers in the SQL are constants; the currency
and the market digits go in as parameters.

Tenderer counts follow REFERENCE §6.5: ``tender/numberOfTenderers``, else the distinct ``tender/tenderers/id``,
else the distinct tenderers of submitted bids. The tables keep no ``tender/tenderers``, so the full chain needs the
compiled releases: the observation ``obs_tenderer_counts`` reads it from them (``models.indicators.observations``;
:func:`tenderer_counts` for a list); without it the chain is ``number_of_tenderers``, then ``core_bids``.

The functions taking a DuckDB connection (:func:`processes`, :func:`competitiveness`, :func:`currency_of`) read the
core tables as relations of that connection (views over Parquet in the pipeline); :func:`compute`,
:func:`process_table` and :func:`main_currency` take Arrow tables instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import pyarrow as pa

from models.indicators import first_row
from models.indicators.concentration import COMPETITIVE, MARKET_DIGITS, tenderer_count
from models.indicators.observations import Observation, Row, Views, register_observation

# The core tables the SQL reads (an absent one is registered empty, with its schema).
TABLES = (
    "core_contracting_processes",
    "core_tender_items",
    "core_bids",
    "core_awards",
    "core_award_suppliers",
    "core_contracts",
    "core_amendments",
)
METHODS = ("open", "selective", "limited", "direct")
# DOJ bands the OCP guide quotes for R051 (HHI on the 0–10,000 scale).
HHI_MODERATE, HHI_HIGH = 1000.0, 1800.0
TOP_SUPPLIERS = 10  # U025: the 10 suppliers with the largest totals
TENDERER_COUNTS_SCHEMA = pa.schema(
    [("ocid", pa.string()), ("tenderer_count", pa.int64()), ("tenderer_count_source", pa.string())]
)

# One row per process. Awards count when active and in the main currency; an award's value is split equally among
# its suppliers (a consortium's shares are not published). Amendment extensions use the latest end any amendment set.
PROCESS_SQL = """
WITH items AS (
    SELECT ocid,
           arg_min(classification_id, item_id) AS classification_id,
           arg_min(classification_scheme, item_id) AS classification_scheme
    FROM core_tender_items
    WHERE classification_id IS NOT NULL AND classification_id <> ''
    GROUP BY ocid
),
bids AS (
    SELECT ocid,
           count(DISTINCT tenderer_id) FILTER (WHERE status IS NULL OR status NOT IN ('invited', 'withdrawn'))
               AS bidders,
           count(DISTINCT tenderer_id) FILTER (WHERE status = 'valid') AS qualified_bidders
    FROM core_bids
    GROUP BY ocid
),
awards AS (
    SELECT ocid,
           sum(amount) FILTER (WHERE status = 'active' AND currency = $currency) AS awarded_amount,
           min(award_date) FILTER (WHERE status = 'active') AS award_date
    FROM core_awards
    GROUP BY ocid
),
winners AS (
    SELECT s.ocid,
           arg_min(coalesce(s.supplier_canonical_id, s.supplier_id), s.award_id) AS supplier_id,
           arg_min(s.supplier_id, s.award_id) AS supplier_party_id,
           arg_min(s.supplier_name, s.award_id) AS supplier_name,
           count(DISTINCT coalesce(s.supplier_canonical_id, s.supplier_id)) AS supplier_count
    FROM core_award_suppliers AS s
    JOIN core_awards AS a USING (ocid, award_id)
    WHERE a.status = 'active'
    GROUP BY s.ocid
),
extended AS (
    SELECT ocid, contract_id, max(new_end_date) AS latest_new_end
    FROM core_amendments
    GROUP BY ocid, contract_id
),
contracts AS (
    SELECT c.ocid,
           count(*) AS contract_count,
           sum(c.amendment_count)::BIGINT AS amendment_count,
           count(*) FILTER (WHERE c.amendment_count > 0) AS amended_contract_count,
           sum(c.amount) FILTER (WHERE c.currency = $currency) AS contracted_amount,
           max(CASE WHEN c.amendment_count > 0 AND coalesce(a.amount, c.original_amount) > 0
                         AND coalesce(a.currency, c.currency) = c.currency
                    THEN c.amount / coalesce(a.amount, c.original_amount) - 1 END) AS value_increase,
           max(CASE WHEN c.amendment_count > 0 AND c.original_end_date > c.start_date
                    THEN (epoch(greatest(c.end_date, coalesce(e.latest_new_end, c.end_date)))
                          - epoch(c.original_end_date))
                         / (epoch(c.original_end_date) - epoch(c.start_date)) END) AS lengthening
    FROM core_contracts AS c
    LEFT JOIN core_awards AS a ON a.ocid = c.ocid AND a.award_id = c.award_id AND a.status = 'active'
    LEFT JOIN extended AS e ON e.ocid = c.ocid AND e.contract_id = c.contract_id
    WHERE c.status IS DISTINCT FROM 'cancelled'
    GROUP BY c.ocid
)
SELECT p.ocid,
       p.year,
       coalesce(p.buyer_canonical_id, p.buyer_id) AS buyer_id,
       p.buyer_name,
       p.procuring_entity_id,
       p.procurement_method,
       p.procurement_method IN ('open', 'selective', 'limited') AS is_competitive,
       CASE WHEN i.classification_id IS NOT NULL
            THEN coalesce(i.classification_scheme, 'unknown') || '-' ||
                 CASE WHEN $digits > 0 THEN left(i.classification_id, $digits) ELSE i.classification_id END
       END AS market,
       coalesce(t.tenderer_count, p.number_of_tenderers, b.bidders) AS tenderer_count,
       CASE WHEN t.tenderer_count IS NOT NULL THEN t.tenderer_count_source
            WHEN p.number_of_tenderers IS NOT NULL THEN 'tender/numberOfTenderers'
            WHEN b.bidders IS NOT NULL THEN 'bids/details/tenderers/id'
       END AS tenderer_count_source,
       b.qualified_bidders,
       w.supplier_id,
       w.supplier_party_id,
       w.supplier_name,
       w.supplier_count,
       aw.awarded_amount,
       coalesce(aw.awarded_amount, CASE WHEN p.tender_currency = $currency THEN p.tender_amount END) AS size_amount,
       CASE WHEN p.planning_budget_currency = $currency THEN p.planning_budget_amount
            WHEN p.tender_currency = $currency THEN p.tender_amount END AS budget_amount,
       p.tender_period_days,
       (epoch(coalesce(aw.award_date, p.first_award_date)) - epoch(p.tender_end_date)) / 86400.0
           AS decision_period_days,
       coalesce(aw.award_date, p.first_award_date) AS award_date,
       coalesce(c.contract_count, 0) AS contract_count,
       coalesce(c.amendment_count, 0) AS amendment_count,
       coalesce(c.amended_contract_count, 0) AS amended_contract_count,
       c.contracted_amount,
       coalesce(c.value_increase, 0.0) AS value_increase,
       coalesce(c.lengthening, 0.0) AS lengthening
FROM core_contracting_processes AS p
LEFT JOIN items AS i USING (ocid)
LEFT JOIN bids AS b USING (ocid)
LEFT JOIN awards AS aw USING (ocid)
LEFT JOIN winners AS w USING (ocid)
LEFT JOIN contracts AS c USING (ocid)
LEFT JOIN obs_tenderer_counts AS t USING (ocid)
WHERE p.tender_status IS DISTINCT FROM 'cancelled'
"""

# Supplier totals per dimension, for the top-10 share and the HHI (shares in percent, 0–10,000). A comparison with a
# NULL is NULL, which avg() would skip: shares of all processes count with CASE, so a missing method counts as 0.
COMPETITION_SQL = """
WITH dims AS (
    SELECT 'all' AS dimension, 'all' AS dimension_id, NULL AS dimension_name, * FROM _semaforo_processes
    UNION ALL
    SELECT 'buyer', buyer_id, buyer_name, * FROM _semaforo_processes WHERE buyer_id IS NOT NULL
    UNION ALL
    SELECT 'market', market, NULL, * FROM _semaforo_processes WHERE market IS NOT NULL
),
won AS (
    SELECT s.ocid, coalesce(s.supplier_canonical_id, s.supplier_id) AS supplier_id,
           sum(a.amount / greatest(a.supplier_count, 1)) AS amount
    FROM core_award_suppliers AS s
    JOIN core_awards AS a USING (ocid, award_id)
    WHERE a.status = 'active' AND a.currency = $currency AND a.amount IS NOT NULL
    GROUP BY ALL
),
supplier_totals AS (
    SELECT d.dimension, d.dimension_id, d.year, w.supplier_id, sum(w.amount) AS amount
    FROM dims AS d JOIN won AS w USING (ocid)
    GROUP BY ALL
),
ranked AS (
    SELECT *,
           amount / nullif(sum(amount) OVER (PARTITION BY dimension, dimension_id, year), 0) AS share,
           row_number() OVER (PARTITION BY dimension, dimension_id, year ORDER BY amount DESC, supplier_id) AS rank
    FROM supplier_totals
),
concentration AS (
    SELECT dimension, dimension_id, year,
           count(*) AS supplier_count,
           sum(share) FILTER (WHERE rank <= $top) AS top10_supplier_share,
           sum((100 * share) ^ 2) AS hhi
    FROM ranked
    GROUP BY ALL
)
SELECT d.dimension,
       d.dimension_id,
       any_value(d.dimension_name) AS dimension_name,
       d.year,
       count(*) AS process_count,
       sum(d.awarded_amount) AS awarded_amount,
       $currency AS awarded_currency,
       avg(CASE WHEN d.procurement_method = 'open' THEN 1 ELSE 0 END) AS open_share,
       avg(CASE WHEN d.procurement_method = 'selective' THEN 1 ELSE 0 END) AS selective_share,
       avg(CASE WHEN d.procurement_method = 'limited' THEN 1 ELSE 0 END) AS limited_share,
       avg(CASE WHEN d.procurement_method = 'direct' THEN 1 ELSE 0 END) AS direct_share,
       avg(CASE WHEN d.procurement_method IS NULL THEN 1 ELSE 0 END) AS other_method_share,
       sum(d.awarded_amount) FILTER (WHERE d.procurement_method = 'open') / nullif(sum(d.awarded_amount), 0)
           AS open_value_share,
       sum(d.awarded_amount) FILTER (WHERE d.procurement_method = 'selective') / nullif(sum(d.awarded_amount), 0)
           AS selective_value_share,
       sum(d.awarded_amount) FILTER (WHERE d.procurement_method = 'limited') / nullif(sum(d.awarded_amount), 0)
           AS limited_value_share,
       sum(d.awarded_amount) FILTER (WHERE d.procurement_method = 'direct') / nullif(sum(d.awarded_amount), 0)
           AS direct_value_share,
       sum(d.awarded_amount) FILTER (WHERE d.procurement_method IS NULL) / nullif(sum(d.awarded_amount), 0)
           AS other_method_value_share,
       count(*) FILTER (WHERE d.is_competitive) AS competitive_process_count,
       count(*) FILTER (WHERE d.is_competitive AND d.tenderer_count IS NOT NULL) AS counted_process_count,
       avg((d.tenderer_count = 1)::INTEGER) FILTER (WHERE d.is_competitive) AS single_bid_share,
       sum(d.awarded_amount) FILTER (WHERE d.is_competitive AND d.tenderer_count = 1)
           / nullif(sum(d.awarded_amount) FILTER (WHERE d.is_competitive AND d.tenderer_count IS NOT NULL), 0)
           AS single_bid_value_share,
       avg(d.tenderer_count) FILTER (WHERE d.is_competitive) AS mean_bidders,
       median(d.tenderer_count) FILTER (WHERE d.is_competitive) AS median_bidders,
       avg((d.qualified_bidders >= 3)::INTEGER) FILTER (WHERE d.is_competitive AND d.qualified_bidders IS NOT NULL)
           AS qualified3_share,
       any_value(c.supplier_count) AS supplier_count,
       any_value(c.top10_supplier_share) AS top10_supplier_share,
       any_value(c.hhi) AS hhi,
       sum(d.contract_count)::BIGINT AS contract_count,
       sum(d.amendment_count) / nullif(sum(d.contract_count), 0) AS amendments_per_contract,
       sum(d.amended_contract_count) / nullif(sum(d.contract_count), 0) AS amended_contract_share,
       avg((d.value_increase > 0)::INTEGER) FILTER (WHERE d.contract_count > 0) AS value_increase_share,
       avg(d.tender_period_days) AS mean_tender_period_days,
       avg(d.decision_period_days) AS mean_decision_period_days,
       avg((d.contracted_amount > d.budget_amount)::INTEGER)
           FILTER (WHERE d.contracted_amount IS NOT NULL AND d.budget_amount > 0) AS overrun_share,
       avg(d.contracted_amount / d.budget_amount - 1)
           FILTER (WHERE d.budget_amount > 0 AND d.contracted_amount > d.budget_amount) AS mean_overrun
FROM dims AS d
LEFT JOIN concentration AS c USING (dimension, dimension_id, year)
GROUP BY d.dimension, d.dimension_id, d.year
ORDER BY d.dimension, d.dimension_id, d.year
"""


def _tenderer_count(views: Views) -> list[Row]:
    found = tenderer_count(views.release)
    return [] if found is None else [found]


TENDERER_COUNTS = register_observation(
    Observation(
        "obs_tenderer_counts",
        tuple((f.name, f.type) for f in TENDERER_COUNTS_SCHEMA if f.name != "ocid"),
        _tenderer_count,
        "Each process's tenderer count and the field it came from, with the fallbacks of REFERENCE §6.5",
        every_release=True,
    )
)


def tenderer_counts(compiled: Iterable[dict[str, Any]]) -> pa.Table:
    """Return each process's tenderer count and the field it came from, with the fallbacks of REFERENCE §6.5."""
    rows: dict[str, list[Any]] = {"ocid": [], "tenderer_count": [], "tenderer_count_source": []}
    for release in compiled:
        if not isinstance(release, dict) or not isinstance(release.get("ocid"), str):
            continue
        found = tenderer_count(release)
        if found is not None:
            rows["ocid"].append(release["ocid"])
            rows["tenderer_count"].append(found[0])
            rows["tenderer_count_source"].append(found[1])
    return pa.Table.from_pydict(rows, schema=TENDERER_COUNTS_SCHEMA)


@contextlib.contextmanager
def relations(con: Any) -> Iterator[Any]:
    """Give a connection an empty relation (with its schema) for each core table and observation it lacks."""
    import duckdb

    from transforms.tables import arrow_schema

    added = []
    schemas = {name: arrow_schema(name) for name in TABLES}
    schemas["obs_tenderer_counts"] = TENDERER_COUNTS.schema
    for name, schema in schemas.items():
        try:
            con.sql(f"SELECT * FROM {name} LIMIT 0").fetchall()
        except duckdb.CatalogException:  # absent: the SQL reads it as empty, as a run without that table has none
            con.register(name, schema.empty_table())
            added.append(name)
    try:
        yield con
    finally:
        for name in added:
            con.unregister(name)


@contextlib.contextmanager
def one_thread(con: Any) -> Iterator[Any]:
    """Run a connection's queries on one thread meanwhile: floating-point sums then add in one order every time.

    With several threads DuckDB combines partial sums in whatever order they finish, so the last bits of a sum of
    amounts would change from run to run, and re-runs must write the same bytes.
    """
    row = first_row(con, "SELECT current_setting('threads')")
    threads = int(row[0]) if row else 1
    con.execute("SET threads = 1")
    try:
        yield con
    finally:
        con.execute(f"SET threads = {threads}")


@contextlib.contextmanager
def connect(tables: Mapping[str, pa.Table]) -> Iterator[Any]:
    """Open an in-memory DuckDB with the core tables (and ``tenderer_counts``) of a mapping of Arrow tables."""

    from transforms.store import quiet_connect

    with quiet_connect() as con:
        for name in TABLES:
            if tables.get(name) is not None:
                con.register(name, tables[name])
        counts = tables.get("obs_tenderer_counts", tables.get("tenderer_counts"))
        if counts is not None:
            con.register("obs_tenderer_counts", counts)
        with relations(con):
            yield con


def currency_of(con: Any) -> str:
    """Return the currency of most active awards (MXN when there is none): value sums use only that currency."""
    with relations(con):
        row = first_row(
            con,
            "SELECT currency FROM core_awards WHERE status = 'active' AND currency IS NOT NULL "
            "GROUP BY currency ORDER BY count(*) DESC, currency LIMIT 1",
        )
    return str(row[0]) if row else "MXN"


def main_currency(tables: Mapping[str, pa.Table]) -> str:
    """Return the currency of most active awards of Arrow tables (MXN when there is none)."""
    with connect(tables) as con:
        return currency_of(con)


def processes(con: Any, *, digits: int = MARKET_DIGITS, currency: str) -> pa.Table:
    """Return one row per process (not cancelled), in the order of core_contracting_processes, with what competition
    and the risk index read (on one thread, the joins keep that order)."""
    with relations(con), one_thread(con):
        return con.sql(PROCESS_SQL, params={"currency": currency, "digits": digits}).to_arrow_table()


def process_table(
    tables: Mapping[str, pa.Table], *, digits: int = MARKET_DIGITS, currency: str | None = None
) -> pa.Table:
    """Return one row per process (not cancelled) of Arrow tables, with the fields competition and the index read."""
    with connect(tables) as con:
        return processes(con, digits=digits, currency=currency or currency_of(con))


def band(hhi: float | None) -> str | None:
    """Return the DOJ band of an HHI: low (< 1,000), moderate (1,000–1,800) or high (> 1,800)."""
    if hhi is None:
        return None
    return "high" if hhi > HHI_HIGH else "moderate" if hhi >= HHI_MODERATE else "low"


def competitiveness(con: Any, *, digits: int = MARKET_DIGITS, currency: str, rows: pa.Table | None = None) -> pa.Table:
    """Return ``out_competition`` from a connection's core tables (``rows``: :func:`processes`, if already read)."""
    from transforms.tables import to_arrow

    found = rows if rows is not None else processes(con, digits=digits, currency=currency)
    con.register("_semaforo_processes", found)
    try:
        with relations(con), one_thread(con):
            result = con.sql(COMPETITION_SQL, params={"currency": currency, "top": TOP_SUPPLIERS})
            metrics = [dict(zip(result.columns, values, strict=True)) for values in result.fetchall()]
    finally:
        con.unregister("_semaforo_processes")
    for row in metrics:
        row["hhi_band"] = band(row["hhi"])
        for name in ("median_bidders", "mean_bidders"):
            row[name] = float(row[name]) if row[name] is not None else None
    return to_arrow("out_competition", metrics)


def compute(tables: Mapping[str, pa.Table], *, digits: int = MARKET_DIGITS, currency: str | None = None) -> pa.Table:
    """Return ``out_competition``: the competitiveness metrics per buyer, market and year, and overall per year."""
    with connect(tables) as con:
        return competitiveness(con, digits=digits, currency=currency or currency_of(con))


__all__ = [
    "COMPETITIVE",
    "METHODS",
    "band",
    "competitiveness",
    "compute",
    "connect",
    "currency_of",
    "main_currency",
    "process_table",
    "processes",
    "relations",
    "tenderer_counts",
]
