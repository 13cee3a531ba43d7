"""Flatten compiled releases into the star schema: Parquet partitioned by year, plus one DuckDB file.

Column names, types and descriptions live once, in ``schemas/tables/*.json`` (Frictionless Table Schema); the
Arrow schemas, the DuckDB tables, the expectation suites and the data dictionary are all derived from them.

The grains follow the star schema of cardinal-rs #129 (contracting process, award, contract, bid, organization,
field coverage, dataset metadata), plus items, award suppliers, amendments, transactions and the organization map
that :mod:`transforms.resolution` builds. The simulator publishes no lots, so there is no lot table yet.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from transforms import jsonio, resolution
from transforms.intervals import Interval
from transforms.ocds.mapping import EXTENSIONS
from transforms.store import quiet_connect, sha256

log = logging.getLogger(__name__)
OCDS_VERSION = "1.1"

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas" / "tables"
ARROW_TYPES = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "datetime": pa.timestamp("us", tz="UTC"),
    "boolean": pa.bool_(),
}
Row = dict[str, Any]


@lru_cache(maxsize=1)
def table_schemas() -> dict[str, dict[str, Any]]:
    """Return every table schema by table name."""
    return {path.stem: jsonio.read_json(path) for path in sorted(SCHEMA_DIR.glob("*.json"))}


def arrow_schema(table: str) -> pa.Schema:
    """Return the Arrow schema of a table, with column descriptions as field metadata."""
    return pa.schema(
        [
            pa.field(f["name"], ARROW_TYPES[f["type"]], metadata={"description": f["description"]})
            for f in table_schemas()[table]["fields"]
        ]
    )


def _ts(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value).astimezone(dt.UTC)
    except ValueError:
        return None


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _value(obj: Any) -> tuple[float | None, str | None]:
    obj = obj if isinstance(obj, dict) else {}
    return _num(obj.get("amount")), obj.get("currency")


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _total(values: Iterable[Any]) -> tuple[float | None, str | None]:
    """Sum OCDS values that share one currency; ``(None, None)`` when there are none or currencies differ."""
    amounts: list[tuple[float, str | None]] = []
    for value in values:
        amount, currency = _value(value)
        if amount is not None:
            amounts.append((amount, currency))
    currencies = {c for _, c in amounts}
    if not amounts or len(currencies) != 1:
        return None, None
    return sum(a for a, _ in amounts), currencies.pop()


def _days(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    return None if start is None or end is None else round((end - start).total_seconds() / 86400, 3)


def _first(default: Any, key: str, amendments: list[dict[str, Any]]) -> Any:
    """The value of ``key`` in the earliest amendment that sets it (by date, then publication order), else default."""
    dated = sorted(enumerate(amendments), key=lambda item: (str(item[1].get("date") or ""), item[0]))
    for _, amendment in dated:
        if amendment.get(key) not in (None, "", {}):
            return amendment[key]
    return default


def process_year(release: dict[str, Any]) -> int:
    """The year a process started: tender start, else the first award or contract date, else the release date."""
    tender = release.get("tender") or {}
    candidates = [(tender.get("tenderPeriod") or {}).get("startDate")]
    candidates += [a.get("date") for a in release.get("awards") or []]
    candidates += [c.get("dateSigned") for c in release.get("contracts") or []]
    candidates.append(release.get("date"))
    for candidate in candidates:
        moment = _ts(candidate)
        if moment is not None:
            return moment.year
    return 0


def process_tables() -> list[str]:
    """Return the core tables that hold rows of one process each (keyed by ``ocid``, partitioned by ``year``)."""
    return [
        name
        for name, schema in table_schemas().items()
        if name.startswith("core_") and {"ocid", "year"} <= {f["name"] for f in schema["fields"]}
    ]


def flatten(compiled: Iterable[dict[str, Any]], *, interval: Interval | None = None) -> dict[str, list[Row]]:
    """Return the rows of every core table for compiled releases held in memory (small inputs, tests).

    Besides one table per OCDS object, this resolves organizations (``core_organization_map`` and the
    ``*canonical_id`` columns), counts field coverage and describes the dataset (``core_dataset_meta``; pass the
    data interval to record it there). The nightly warehouse (:mod:`transforms.warehouse`) does the same out of
    core, with the same functions.
    """
    rows: dict[str, list[Row]] = {name: [] for name in table_schemas() if name.startswith("core_")}
    coverage = Coverage()
    for release in compiled:
        coverage.add(release)
        for name, table_rows in process_rows(release).items():
            rows[name].extend(table_rows)
    with quiet_connect() as con:
        for name in process_tables():
            con.register(name, to_arrow(name, rows[name]))
        mapping = organization_map(con)
        by_party = canonical_ids(mapping)
        for table, column, canonical in CANONICAL_COLUMNS:
            for row in rows[table]:
                row[canonical] = by_party.get(row[column] or "")
        rows["core_organization_map"] = mapping
        rows["core_field_coverage"] = coverage.rows()
        for name in [*process_tables(), "core_organization_map"]:
            con.register(name, to_arrow(name, rows[name]))  # again, now with the canonical ids
        rows["core_dataset_meta"] = [dataset_meta(con, interval)]
    return rows


def process_rows(release: dict[str, Any]) -> dict[str, list[Row]]:
    """Return the rows one compiled release gives each process table (``*canonical_id`` columns not yet set)."""
    rows: dict[str, list[Row]] = {name: [] for name in process_tables()}
    ocid, year = release["ocid"], process_year(release)
    key = {"ocid": ocid, "year": year}
    tender = release.get("tender") or {}
    period = tender.get("tenderPeriod") or {}
    amount, currency = _value(tender.get("value"))
    awards, contracts = release.get("awards") or [], release.get("contracts") or []
    bids = (release.get("bids") or {}).get("details") or []
    budget = _value(((release.get("planning") or {}).get("budget") or {}).get("amount"))
    awarded, contracted = _total(a.get("value") for a in awards), _total(c.get("value") for c in contracts)
    award_dates = [d for d in (_ts(a.get("date")) for a in awards) if d is not None]
    start, end = _ts(period.get("startDate")), _ts(period.get("endDate"))
    rows["core_contracting_processes"].append(
        {
            **key,
            "compiled_date": _ts(release.get("date")),
            "buyer_id": _str((release.get("buyer") or {}).get("id")),
            "buyer_name": (release.get("buyer") or {}).get("name"),
            "procuring_entity_id": _str((tender.get("procuringEntity") or {}).get("id")),
            "procuring_entity_name": (tender.get("procuringEntity") or {}).get("name"),
            "tender_id": _str(tender.get("id")),
            "tender_title": tender.get("title"),
            "tender_status": tender.get("status"),
            "procurement_method": tender.get("procurementMethod"),
            "procurement_method_details": tender.get("procurementMethodDetails"),
            "procurement_method_character": tender.get("procurementMethodCharacterMxCnet"),
            "main_procurement_category": tender.get("mainProcurementCategory"),
            "submission_method": "|".join(tender.get("submissionMethod") or []) or None,
            "tender_start_date": start,
            "tender_end_date": end,
            "tender_period_days": _days(start, end),
            "tender_amount": amount,
            "tender_currency": currency,
            "number_of_tenderers": _int(tender.get("numberOfTenderers")),
            "award_count": len(awards),
            "contract_count": len(contracts),
            "planning_budget_amount": budget[0],
            "planning_budget_currency": budget[1],
            "bid_count": len(bids),
            "valid_bid_count": sum(1 for b in bids if b.get("status") == "valid"),
            "first_award_date": min(award_dates, default=None),
            "awarded_amount": awarded[0],
            "awarded_currency": awarded[1],
            "contracted_amount": contracted[0],
            "contracted_currency": contracted[1],
        }
    )
    for item in tender.get("items") or []:
        classification = item.get("classification") or {}
        rows["core_tender_items"].append(
            {
                **key,
                "item_id": _str(item.get("id")),
                "description": item.get("description"),
                "classification_scheme": classification.get("scheme"),
                "classification_id": _str(classification.get("id")),
                "classification_description": classification.get("description"),
                "quantity": _num(item.get("quantity")),
                "unit_name": (item.get("unit") or {}).get("name"),
            }
        )
    for bid in bids:
        tenderer = (bid.get("tenderers") or [{}])[0]
        amount, currency = _value(bid.get("value"))
        rows["core_bids"].append(
            {
                **key,
                "bid_id": _str(bid.get("id")),
                "bid_date": _ts(bid.get("date")),
                "status": bid.get("status"),
                "tenderer_id": _str(tenderer.get("id")),
                "tenderer_name": tenderer.get("name"),
                "amount": amount,
                "currency": currency,
            }
        )
    for award in awards:
        amount, currency = _value(award.get("value"))
        suppliers = award.get("suppliers") or []
        rows["core_awards"].append(
            {
                **key,
                "award_id": _str(award.get("id")),
                "status": award.get("status"),
                "award_date": _ts(award.get("date")),
                "amount": amount,
                "currency": currency,
                "supplier_count": len(suppliers),
                "item_count": len(award.get("items") or []),
            }
        )
        for supplier in suppliers:
            rows["core_award_suppliers"].append(
                {
                    **key,
                    "award_id": _str(award.get("id")),
                    "supplier_id": _str(supplier.get("id")),
                    "supplier_name": supplier.get("name"),
                }
            )
    for contract in contracts:
        amount, currency = _value(contract.get("value"))
        cperiod = contract.get("period") or {}
        amendments = contract.get("amendments") or []
        transactions = (contract.get("implementation") or {}).get("transactions") or []
        paid = [_value(t.get("value")) for t in transactions]
        original_end = _first(cperiod.get("endDate"), "previousEndDate", amendments)
        rows["core_contracts"].append(
            {
                **key,
                "contract_id": _str(contract.get("id")),
                "award_id": _str(contract.get("awardID")),
                "title": contract.get("title"),
                "status": contract.get("status"),
                "date_signed": _ts(contract.get("dateSigned")),
                "start_date": _ts(cperiod.get("startDate")),
                "end_date": _ts(cperiod.get("endDate")),
                "amount": amount,
                "currency": currency,
                "amendment_count": len(amendments),
                "transaction_count": len(transactions),
                "original_amount": _value(_first(contract.get("value"), "previousValue", amendments))[0],
                "original_end_date": _ts(original_end),
                "paid_amount": sum(a for a, c in paid if a is not None and c == currency) if paid else None,
            }
        )
        for amendment in amendments:
            rows["core_amendments"].append(
                {
                    **key,
                    "contract_id": _str(contract.get("id")),
                    "amendment_id": _str(amendment.get("id")),
                    "amendment_date": _ts(amendment.get("date")),
                    "rationale": amendment.get("rationale"),
                    "description": amendment.get("description"),
                    "previous_amount": _value(amendment.get("previousValue"))[0],
                    "new_amount": _value(amendment.get("newValue"))[0],
                    "previous_end_date": _ts(amendment.get("previousEndDate")),
                    "new_end_date": _ts(amendment.get("newEndDate")),
                }
            )
        for transaction in transactions:
            amount, currency = _value(transaction.get("value"))
            rows["core_transactions"].append(
                {
                    **key,
                    "contract_id": _str(contract.get("id")),
                    "transaction_id": _str(transaction.get("id")),
                    "transaction_date": _ts(transaction.get("date")),
                    "amount": amount,
                    "currency": currency,
                    "payer_id": _str((transaction.get("payer") or {}).get("id")),
                    "payee_id": _str((transaction.get("payee") or {}).get("id")),
                }
            )
    for party in release.get("parties") or []:
        identifier = party.get("identifier") or {}
        rupc = [i.get("id") for i in party.get("additionalIdentifiers") or [] if i.get("scheme") == "MX-RUPC"]
        rows["core_organizations"].append(
            {
                **key,
                "party_id": _str(party.get("id")),
                "name": party.get("name"),
                "identifier_scheme": identifier.get("scheme"),
                "identifier_id": _str(identifier.get("id")),
                "roles": "|".join(party.get("roles") or []),
                "scale": (party.get("details") or {}).get("scale"),
                "rupc_id": _str(rupc[0]) if rupc else None,
                "country_name": (party.get("address") or {}).get("countryName"),
            }
        )
    return rows


# -- organizations, coverage, dataset metadata ----------------------------------------------------------------
# Each *canonical_id column and the id column it resolves: (table, id column, canonical column).
CANONICAL_COLUMNS = (
    ("core_organizations", "party_id", "canonical_id"),
    ("core_award_suppliers", "supplier_id", "supplier_canonical_id"),
    ("core_bids", "tenderer_id", "tenderer_canonical_id"),
    ("core_contracting_processes", "buyer_id", "buyer_canonical_id"),
    ("core_transactions", "payee_id", "payee_canonical_id"),
)
# Every place the tables name an organization, with how often: parties (with their identifier), and the rows that only
# reference one (award suppliers, tenderers, buyers), whose scheme is read from the id's prefix.
IDENTITIES_SQL = """
SELECT party_id, name,
       CASE WHEN list_has_any(string_split(coalesce(roles, ''), '|'), $buyer_roles) THEN 'buyer' ELSE 'supplier' END,
       identifier_scheme, identifier_id, count(*)
FROM core_organizations GROUP BY ALL
UNION ALL
SELECT supplier_id, supplier_name, 'supplier', NULL, NULL, count(*) FROM core_award_suppliers GROUP BY ALL
UNION ALL
SELECT tenderer_id, tenderer_name, 'supplier', NULL, NULL, count(*) FROM core_bids
WHERE tenderer_id <> '' GROUP BY ALL
UNION ALL
SELECT buyer_id, buyer_name, 'buyer', NULL, NULL, count(*) FROM core_contracting_processes
WHERE buyer_id <> '' GROUP BY ALL
"""


def _identity(party_id: Any, name: Any, kind: str, scheme: Any = None, identifier: Any = None) -> resolution.Identity:
    party_id, name = str(party_id or ""), str(name or "")
    if scheme is None:
        # Rows that only reference a party (award suppliers, bids, buyer) carry the scheme in the id's prefix.
        scheme = next((s for s in resolution.IDENTIFIER_SCHEMES if party_id.startswith(f"{s}-")), None)
        identifier = party_id[len(scheme) + 1 :] if scheme else None
    return resolution.Identity(party_id, name, kind, scheme, identifier)


def organization_map(con: duckdb.DuckDBPyConnection) -> list[Row]:
    """Resolve every organization the process tables in ``con`` name; return the ``core_organization_map`` rows."""
    seen: Counter[resolution.Identity] = Counter()
    params = {"buyer_roles": sorted(resolution.BUYER_ROLES)}
    for party_id, name, kind, scheme, identifier, count in con.execute(IDENTITIES_SQL, params).fetchall():
        seen[_identity(party_id, name, kind, scheme, identifier)] += count
    return resolution.organization_map(dict(seen))


def canonical_ids(mapping: Iterable[Row]) -> dict[str, str]:
    """Return party id → canonical id from the map's rows (sorted by party id and name, so the choice is stable
    if one id ever resolves twice). Rows whose id column is null take the canonical id of the empty id."""
    by_party: dict[str, str] = {}
    for entry in mapping:
        by_party.setdefault(entry["party_id"], entry["canonical_id"])
    return by_party


def _present(value: Any) -> bool:
    return value is not None and value != ""


class Coverage:
    """Count, per OCDS path (``awards/suppliers/id``), the processes that fill it and its non-empty values.

    Counts can be taken back (:meth:`remove`), so a night can update yesterday's counts with the processes that
    changed instead of walking every compiled release again.
    """

    def __init__(self, rows: Iterable[Row] = (), total: int = 0) -> None:
        self.processes: Counter[str] = Counter()
        self.values: Counter[str] = Counter()
        for row in rows:
            self.processes[row["path"]] = row["process_count"]
            self.values[row["path"]] = row["value_count"]
        self.total = total

    def add(self, release: dict[str, Any], sign: int = 1) -> None:
        """Count one compiled release (``sign=-1`` takes it back)."""
        present: set[str] = set()
        values: Counter[str] = Counter()
        self._walk(release, "", present, values)
        for path in present:
            self.processes[path] += sign
        for path, count in values.items():
            self.values[path] += sign * count
        self.total += sign

    def remove(self, release: dict[str, Any]) -> None:
        """Take back a compiled release counted before."""
        self.add(release, -1)

    def _walk(self, value: Any, path: str, present: set[str], values: Counter[str]) -> bool:
        """Count the non-empty values under ``path``; return whether ``value`` is non-empty."""
        if isinstance(value, dict):
            found = False
            for key, child in value.items():
                found = self._walk(child, f"{path}/{key}" if path else key, present, values) or found
        elif isinstance(value, list):
            # Array members share the array's path; the array counts through its members.
            found = False
            for child in value:
                found = self._walk(child, path, present, values) or found
            return found
        else:
            found = _present(value)
        if found and path:
            values[path] += 1
            present.add(path)
        return found

    def rows(self) -> list[Row]:
        """Return the ``core_field_coverage`` rows, ordered by path."""
        return [
            {
                "path": path,
                "process_count": count,
                "process_share": count / self.total,
                "value_count": self.values[path],
            }
            for path, count in sorted(self.processes.items())
            if count > 0
        ]


def field_coverage(compiled: Iterable[dict[str, Any]]) -> list[Row]:
    """Return the ``core_field_coverage`` rows of compiled releases."""
    coverage = Coverage()
    for release in compiled:
        coverage.add(release)
    return coverage.rows()


def _version() -> str:
    try:
        return metadata.version("semaforo")
    except metadata.PackageNotFoundError:
        return "unknown"


def schema_digest() -> str:
    """Return the SHA-256 of every table schema: it changes whenever a column does."""
    return hashlib.sha256(jsonio.dumps(table_schemas())).hexdigest()


# Counts, dates, years and currencies of the whole dataset. ``dataset_id`` digests every process's ocid and compiled
# date in ocid order: it changes when any process does.
DATASET_META_SQL = """
WITH p AS (SELECT * FROM core_contracting_processes),
currencies AS (
    SELECT tender_currency AS c FROM p UNION SELECT currency FROM core_bids UNION SELECT currency FROM core_awards
    UNION SELECT currency FROM core_contracts UNION SELECT currency FROM core_transactions
)
SELECT
    sha256(coalesce(string_agg(ocid || chr(9) || coalesce(epoch_us(compiled_date)::VARCHAR, ''), chr(10)
                               ORDER BY ocid), '')) AS dataset_id,
    min(coalesce(tender_start_date, first_award_date, compiled_date)) AS first_process_date,
    max(compiled_date) AS last_release_date,
    (SELECT string_agg(year::VARCHAR, '|' ORDER BY year) FROM (SELECT DISTINCT year FROM p)) AS years,
    (SELECT string_agg(c, '|' ORDER BY c) FROM currencies WHERE c IS NOT NULL AND c <> '') AS currencies,
    count(*) AS process_count,
    (SELECT count(*) FROM core_tender_items) AS tender_item_count,
    (SELECT count(*) FROM core_bids) AS bid_count,
    (SELECT count(*) FROM core_awards) AS award_count,
    (SELECT count(*) FROM core_contracts) AS contract_count,
    (SELECT count(*) FROM core_amendments) AS amendment_count,
    (SELECT count(*) FROM core_transactions) AS transaction_count,
    (SELECT count(*) FROM core_organizations) AS party_count,
    (SELECT count(DISTINCT canonical_id) FROM core_organization_map) AS organization_count,
    (SELECT count(DISTINCT supplier_canonical_id) FROM core_award_suppliers) AS supplier_count,
    count(DISTINCT buyer_canonical_id) AS buyer_count
FROM p
"""


def dataset_meta(con: duckdb.DuckDBPyConnection, interval: Interval | None = None) -> Row:
    """Return the ``core_dataset_meta`` row of the tables in ``con``: counts, dates and versions, no clock."""
    cursor = con.execute(DATASET_META_SQL)
    columns = [d[0] for d in cursor.description]
    row = dict(zip(columns, cursor.fetchone() or (), strict=True))
    for name in ("first_process_date", "last_release_date"):
        if row[name] is not None:
            row[name] = row[name].astimezone(dt.UTC)
    return {
        **row,
        "interval_key": interval.key if interval else None,
        "interval_start": interval.start.astimezone(dt.UTC) if interval else None,
        "interval_end": interval.end.astimezone(dt.UTC) if interval else None,
        "ocds_version": OCDS_VERSION,
        "ocds_extensions": "|".join(EXTENSIONS),
        "semaforo_version": _version(),
        "table_schema_sha256": schema_digest(),
    }


def to_arrow(table: str, rows: list[Row]) -> pa.Table:
    """Build an Arrow table with the declared schema (missing keys become nulls)."""
    schema = arrow_schema(table)
    columns = {name: [row.get(name) for row in rows] for name in schema.names}
    return pa.Table.from_pydict(columns, schema=schema)


def _swap(new: Path, final: Path) -> None:
    """Put the folder ``new`` in the place of ``final`` by renames: readers see the old folder or the new one."""
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
        os.replace(final, old / final.name)
        os.replace(new, final)
        shutil.rmtree(old)
    else:
        os.replace(new, final)


def _write_folder(final: Path, data: pa.Table) -> Path:
    """Write ``final/part-0.parquet`` into a hidden temporary folder beside ``final``, then swap it in."""
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the partition is meant to be read by others
    try:
        pq.write_table(data, staging / "part-0.parquet", compression="zstd")
        _swap(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final / "part-0.parquet"


def _visible(path: Path, root: Path) -> bool:
    """Whether a file under ``root`` is published data (temporary and old folders start with a dot)."""
    return not any(part.startswith(".") for part in path.relative_to(root).parts)


def write_parquet(folder: Path, table: str, data: pa.Table, *, prune: bool = True) -> list[Path]:
    """Write a table as ``folder/<table>/year=YYYY/part-0.parquet`` files (or one file if it has no year).

    Each partition is written to a hidden folder beside it and renamed into place, so a failed write leaves every
    partition either as it was or complete. With ``prune`` (the default) partitions the data no longer has are
    removed afterwards, so the folder holds exactly ``data``; without it, other years are left alone (to replace
    only the partitions of one interval).
    """
    target = folder / table
    if not prune and not data.num_rows and target.exists():
        return []  # nothing to replace, and the other years stay
    if "year" not in data.column_names or not data.num_rows:
        # Unpartitioned (or empty, which still needs one file for its schema): the table folder is the partition.
        return [_write_folder(target, data)]
    written = []
    years = sorted(set(data.column("year").to_pylist()))
    for year in years:
        part = data.filter(pc.equal(data.column("year"), year))
        written.append(_write_folder(target / f"year={year}", part))
    if prune:
        keep = {f"year={year}" for year in years}
        for entry in target.iterdir():
            if entry.name.startswith(".") or entry.name in keep:
                continue
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    return written


def parquet_files(parquet_root: Path, table: str) -> list[Path]:
    """Return the Parquet files of a table written by :func:`write_parquet`, in order, skipping temporary ones."""
    root = parquet_root / table
    return sorted(p for p in root.rglob("*.parquet") if _visible(p, root))


def read_table(parquet_root: Path, table: str) -> pa.Table:
    """Read a table written by :func:`write_parquet` back with its declared schema."""
    schema = arrow_schema(table)
    parts = [pq.read_table(path, schema=schema) for path in parquet_files(parquet_root, table)]
    return pa.concat_tables(parts) if parts else schema.empty_table()


def _create_table(con: duckdb.DuckDBPyConnection, parquet_root: Path, table: str) -> None:
    """Create one table from its Parquet files, with its table and column comments."""
    files = [str(p) for p in parquet_files(parquet_root, table)]
    schema = table_schemas()[table]
    # Identifiers come from our own schema files, never from user input.
    con.execute(f'CREATE TABLE "{table}" AS SELECT * FROM read_parquet(?, hive_partitioning = false)', [files])
    con.execute(f"COMMENT ON TABLE \"{table}\" IS '{schema['description'].replace(chr(39), chr(39) * 2)}'")
    for field in schema["fields"]:
        comment = field["description"].replace("'", "''")
        con.execute(f'COMMENT ON COLUMN "{table}"."{field["name"]}" IS \'{comment}\'')


def build_duckdb(database: Path, parquet_root: Path, tables: Iterable[str]) -> None:
    """Create a DuckDB file holding every table (loaded from Parquet) with column comments."""
    database.unlink(missing_ok=True)
    with quiet_connect(str(database)) as con:
        for table in tables:
            _create_table(con, parquet_root, table)
        con.execute("CHECKPOINT")


# Builds in a row that update the previous DuckDB file in place of a new one; the next starts afresh, so the space
# that deleted rows leave behind does not pile up.
INCREMENTAL_BUILDS = 6
_YEAR_PARTITION = re.compile(r"(?:^|/)year=(-?\d+)/")


def parquet_hashes(parquet_root: Path) -> dict[str, str]:
    """Return the SHA-256 of every visible Parquet file under ``parquet_root``, by relative POSIX path."""
    return {
        path.relative_to(parquet_root).as_posix(): sha256(path)
        for path in sorted(p for p in parquet_root.rglob("*.parquet") if _visible(p, parquet_root))
    }


def parquet_fingerprint(parquet_root: Path, hashes: dict[str, str] | None = None) -> str:
    """Return a SHA-256 over every visible Parquet file (path and bytes): equal tables, equal fingerprint."""
    digest = hashlib.sha256()
    for relative, file_hash in sorted((hashes if hashes is not None else parquet_hashes(parquet_root)).items()):
        digest.update(relative.encode())
        digest.update(bytes.fromhex(file_hash))
    return digest.hexdigest()


@dataclass(frozen=True)
class Changed:
    """The processes whose rows in the process tables differ from those of the Parquet files a seed was built from."""

    seed_parquet: Path  # the Parquet folder the seed DuckDB file was built from (the previous night's snapshot)
    ocids: Path  # a Parquet file with an ``ocid`` column: every process whose rows differ (the warehouse's CHANGED)

    def describes(self, before: dict[str, str], keys: Iterable[str]) -> bool:
        """Whether a copied file held the seed's Parquet files ``keys`` (by its record ``before``): then only the
        listed processes' rows differ from tonight's."""
        seed = self.seed_parquet
        return all(before.get(k) == (sha256(seed / k) if (seed / k).is_file() else None) for k in keys)


def _update_duckdb(
    database: Path,
    parquet_root: Path,
    tables: list[str],
    before: dict[str, str],
    after: dict[str, str],
    changed: Changed | None = None,
) -> dict[str, str]:
    """Bring a copy of the previous DuckDB file up to date with the Parquet files; return what each table needed.

    A table whose files are unchanged is kept. A process table whose changed files are all year partitions, when
    ``changed`` describes the copy, gets the changed processes' rows deleted and loaded again (a night changes a
    few thousand processes spread over several years); any other table whose changed files are all year partitions
    gets those years deleted and loaded again; any other is loaded again whole.
    """
    done = {}
    with quiet_connect(str(database)) as con:
        existing = {name for (name,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        for gone in sorted(existing - set(tables)):
            con.execute(f'DROP TABLE "{gone}"')
            done[gone] = "dropped"
        if changed is not None:
            con.execute("CREATE TEMP TABLE changed_ocids AS SELECT ocid FROM read_parquet(?)", [str(changed.ocids)])
        for table in tables:
            mine = {k: v for k, v in before.items() if k.startswith(f"{table}/")}
            now = {k: v for k, v in after.items() if k.startswith(f"{table}/")}
            if table in existing and mine == now:
                continue
            changed_keys = [k for k in sorted(mine.keys() | now.keys()) if mine.get(k) != now.get(k)]
            years = [match.group(1) for k in changed_keys if (match := _YEAR_PARTITION.search(k))]
            fields = {f["name"] for f in table_schemas()[table]["fields"]}
            if table not in existing or len(years) < len(changed_keys) or "year" not in fields:
                con.execute(f'DROP TABLE IF EXISTS "{table}"')
                _create_table(con, parquet_root, table)
                done[table] = "loaded"
                continue
            wanted = sorted({int(y) for y in years})
            files = [
                str(parquet_root / k)
                for k in sorted(now)
                if (match := _YEAR_PARTITION.search(k)) and int(match.group(1)) in wanted
            ]
            # The rows replaced: the changed processes' (all in the changed years, before and after), else the years'.
            by_process = changed is not None and table in process_tables() and changed.describes(mine, changed_keys)
            rows, params = (
                ("ocid IN (SELECT ocid FROM changed_ocids)", [])
                if by_process
                else ("year IN (SELECT unnest(?::BIGINT[]))", [wanted])
            )
            con.execute(f'DELETE FROM "{table}" WHERE {rows}', params)
            if files:
                con.execute(
                    f'INSERT INTO "{table}" SELECT * FROM read_parquet(?, hive_partitioning = false) WHERE {rows}',
                    [files, *params],
                )
            done[table] = f"{'changed processes of ' if by_process else ''}years {', '.join(map(str, wanted))}"
        con.execute("CHECKPOINT")
    return done


def _stamp(database: Path) -> Path:
    return database.with_name(database.name + ".inputs")


def _built_from(
    database: Path, copy_to: Path | None = None, usable: Callable[[dict[str, Any]], bool] | None = None
) -> dict[str, Any]:
    """Return what a DuckDB file was built from (its ``.inputs``), and copy the file to ``copy_to`` if given and the
    record is ``usable``.

    The record names the file's inode, and the file stays open from before the record is read until copied, so a
    file replaced meanwhile (another run of its night) is never taken with the other file's record. Returns ``{}``
    when there is no consistent (or no usable) record.
    """
    try:
        with open(database, "rb") as fh:
            built = jsonio.read_json(_stamp(database))
            if not isinstance(built, dict) or built.get("inode") != os.fstat(fh.fileno()).st_ino:
                return {}
            if usable is not None and not usable(built):
                return {}
            if copy_to is not None:
                with open(copy_to, "wb") as out:
                    shutil.copyfileobj(fh, out, 1 << 20)
            return built
    except (OSError, ValueError):  # none, or the plain fingerprint of an earlier layout
        return {}


def build_duckdb_if_changed(
    database: Path, parquet_root: Path, seed: Path | None = None, changed: Changed | None = None
) -> bool:
    """Build the DuckDB file from every table under ``parquet_root`` unless its inputs are unchanged.

    DuckDB files differ byte for byte between two builds of the same data (random ids and checksums in their
    headers), so a re-run keeps the existing file when the Parquet inputs have the same fingerprint; the
    publication's checksums then stay the same too. Otherwise a copy of the existing file, or of ``seed`` (the
    previous night's) when there is none, is updated with the changed tables and year partitions only (a night
    changes a few partitions of a large history), when it was built with the same table schemas and fewer than
    :data:`INCREMENTAL_BUILDS` updates ago; else the file is built afresh. ``changed`` (which processes differ from
    the seed's Parquet files) lets the process tables be updated process by process. ``<database>.inputs`` records
    what the file was built from. Returns whether the file was (re)built.
    """
    hashes = parquet_hashes(parquet_root)
    fingerprint = parquet_fingerprint(parquet_root, hashes)
    schemas = hashlib.sha256(jsonio.dumps(table_schemas())).hexdigest()
    if _built_from(database).get("fingerprint") == fingerprint:
        return False
    names = sorted(
        p.name
        for p in parquet_root.iterdir()
        if p.is_dir() and not p.name.startswith(".") and p.name in table_schemas()
    )
    tmp = database.with_name(f".{database.name}.{os.getpid()}.tmp")
    try:

        def usable(record: dict[str, Any]) -> bool:
            return bool(
                record.get("schemas") == schemas
                and int(record.get("generation", INCREMENTAL_BUILDS)) < INCREMENTAL_BUILDS
            )

        built: dict[str, Any] = {}
        for source in (database, seed):  # this night's file from an earlier run, else the previous night's
            # A copy: the old file may be hard-linked from a publication, so it is never written.
            built = _built_from(source, copy_to=tmp, usable=usable) if source is not None else {}
            if built:
                break
        generation = int(built.get("generation", INCREMENTAL_BUILDS))
        if built:
            tmp.chmod(0o644)
            done = _update_duckdb(tmp, parquet_root, names, built.get("files", {}), hashes, changed)
            log.info("duckdb: updated %s", done)
            generation += 1
        else:
            build_duckdb(tmp, parquet_root, names)
            generation = 0
        # Read-only: the publication hard-links this file, so a write through either name would change both.
        tmp.chmod(0o444)
        inode = tmp.stat().st_ino
        stamp_data = {"fingerprint": fingerprint, "schemas": schemas, "generation": generation, "inode": inode}
        jsonio.write_json(_stamp(database), {**stamp_data, "files": hashes})
        os.replace(tmp, database)
    finally:
        tmp.unlink(missing_ok=True)
    return True
