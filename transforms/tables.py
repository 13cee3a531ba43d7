"""Flatten compiled releases into the star schema: Parquet partitioned by year, plus one DuckDB file.

Column names, types and descriptions live once, in ``schemas/tables/*.json`` (Frictionless Table Schema); the
Arrow schemas, the DuckDB tables and the data dictionary are all derived from them.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from transforms import jsonio

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


def flatten(compiled: Iterable[dict[str, Any]]) -> dict[str, list[Row]]:
    """Return the rows of every core table for a stream of compiled releases."""
    rows: dict[str, list[Row]] = {name: [] for name in table_schemas() if name.startswith("core_")}
    for release in compiled:
        ocid, year = release["ocid"], process_year(release)
        key = {"ocid": ocid, "year": year}
        tender = release.get("tender") or {}
        period = tender.get("tenderPeriod") or {}
        amount, currency = _value(tender.get("value"))
        awards, contracts = release.get("awards") or [], release.get("contracts") or []
        rows["core_contracting_processes"].append(
            {
                **key,
                "compiled_date": _ts(release.get("date")),
                "buyer_id": _str((release.get("buyer") or {}).get("id")),
                "buyer_name": (release.get("buyer") or {}).get("name"),
                "procuring_entity_id": _str((tender.get("procuringEntity") or {}).get("id")),
                "tender_id": _str(tender.get("id")),
                "tender_title": tender.get("title"),
                "tender_status": tender.get("status"),
                "procurement_method": tender.get("procurementMethod"),
                "procurement_method_details": tender.get("procurementMethodDetails"),
                "main_procurement_category": tender.get("mainProcurementCategory"),
                "tender_start_date": _ts(period.get("startDate")),
                "tender_end_date": _ts(period.get("endDate")),
                "tender_amount": amount,
                "tender_currency": currency,
                "number_of_tenderers": _int(tender.get("numberOfTenderers")),
                "award_count": len(awards),
                "contract_count": len(contracts),
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
                    "quantity": _num(item.get("quantity")),
                    "unit_name": (item.get("unit") or {}).get("name"),
                }
            )
        for bid in (release.get("bids") or {}).get("details") or []:
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
            rows["core_contracts"].append(
                {
                    **key,
                    "contract_id": _str(contract.get("id")),
                    "award_id": _str(contract.get("awardID")),
                    "status": contract.get("status"),
                    "date_signed": _ts(contract.get("dateSigned")),
                    "start_date": _ts(cperiod.get("startDate")),
                    "end_date": _ts(cperiod.get("endDate")),
                    "amount": amount,
                    "currency": currency,
                    "amendment_count": len(amendments),
                    "transaction_count": len(transactions),
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
            rows["core_organizations"].append(
                {
                    **key,
                    "party_id": _str(party.get("id")),
                    "name": party.get("name"),
                    "identifier_scheme": identifier.get("scheme"),
                    "identifier_id": _str(identifier.get("id")),
                    "roles": "|".join(party.get("roles") or []),
                    "scale": (party.get("details") or {}).get("scale"),
                }
            )
    return rows


def to_arrow(table: str, rows: list[Row]) -> pa.Table:
    """Build an Arrow table with the declared schema (missing keys become nulls)."""
    schema = arrow_schema(table)
    columns = {name: [row.get(name) for row in rows] for name in schema.names}
    return pa.Table.from_pydict(columns, schema=schema)


def write_parquet(folder: Path, table: str, data: pa.Table) -> list[Path]:
    """Write a table as ``folder/<table>/year=YYYY/part-0.parquet`` files (or one file if it has no year)."""
    written = []
    target = folder / table
    shutil.rmtree(target, ignore_errors=True)
    if "year" in data.column_names and data.num_rows:
        years = sorted(set(data.column("year").to_pylist()))
        for year in years:
            part = data.filter(pa.compute.equal(data.column("year"), year))
            path = target / f"year={year}" / "part-0.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(part, path, compression="zstd")
            written.append(path)
    else:
        path = target / "part-0.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(data, path, compression="zstd")
        written.append(path)
    return written


def build_duckdb(database: Path, parquet_root: Path, tables: Iterable[str]) -> None:
    """Create a DuckDB file holding every table (loaded from Parquet) with column comments."""
    database.unlink(missing_ok=True)
    with duckdb.connect(str(database)) as con:
        for table in tables:
            files = sorted(str(p) for p in (parquet_root / table).rglob("*.parquet"))
            schema = table_schemas()[table]
            # Identifiers come from our own schema files, never from user input.
            con.execute(f'CREATE TABLE "{table}" AS SELECT * FROM read_parquet(?, hive_partitioning = false)', [files])
            con.execute(f"COMMENT ON TABLE \"{table}\" IS '{schema['description'].replace(chr(39), chr(39) * 2)}'")
            for field in schema["fields"]:
                comment = field["description"].replace("'", "''")
                con.execute(f'COMMENT ON COLUMN "{table}"."{field["name"]}" IS \'{comment}\'')
        con.execute("CHECKPOINT")
