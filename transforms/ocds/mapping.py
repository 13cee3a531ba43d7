"""Map CompraNet stage records to OCDS 1.1 releases: one release per stage event (REFERENCE §2).

Each mapper takes one stage record (or, for bids, the bids of one procedure) and returns a release. Records that
cannot be mapped raise :class:`Unmappable` with the reason; the caller quarantines them. Nothing is dropped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from transforms.intervals import MEXICO_CITY
from transforms.ocds import vocab

BIDS_EXTENSION = (
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_bid_extension/v1.1.5/extension.json"
)
PARTY_SCALE_EXTENSION = "https://raw.githubusercontent.com/open-contracting-extensions/ocds_partyDetails_scale_extension/master/extension.json"
# The project's own extension: amendment values before and after, CompraNet's procedure character.
SEMAFORO_EXTENSION = "https://raw.githubusercontent.com/semaforo-mx/semaforo/main/schemas/ocds/extension.json"
EXTENSIONS = [BIDS_EXTENSION, PARTY_SCALE_EXTENSION, SEMAFORO_EXTENSION]

TAGS = {
    "planning": "planning",
    "tenders": "tender",
    "bids": "tenderUpdate",
    "awards": "award",
    "contracts": "contract",
    "amendments": "contractAmendment",
    "payments": "implementation",
}


class Unmappable(ValueError):
    """A record that cannot become a release; the message is the quarantine reason."""


# -- values ---------------------------------------------------------------------------------------------------
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_GMT_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2}) 00:00:00 GMT$")
_LOCAL_MINUTES = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})?$")


def rfc3339(value: object, field: str) -> str | None:
    """Return an RFC 3339 timestamp with the Mexico City offset in force on that date, or None when blank.

    Date-only values (and CompraNet's ``YYYY-MM-DD 00:00:00 GMT``, which is a date with a misleading label,
    REFERENCE §1.7) become local midnight. Local times without a zone are taken as Mexico City time.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip()
    if match := _GMT_DATE.match(text):
        text = match.group(1)
    try:
        if _DATE_ONLY.match(text):
            moment = dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), tzinfo=MEXICO_CITY)
        elif _LOCAL_MINUTES.match(text):
            moment = dt.datetime.fromisoformat(text).replace(tzinfo=MEXICO_CITY)
        else:
            moment = dt.datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=MEXICO_CITY)
    except ValueError as exc:
        raise Unmappable(f"{field}: unparseable date {text!r}") from exc
    return moment.astimezone(MEXICO_CITY).isoformat(timespec="seconds")


def amount(value: object, field: str) -> float | None:
    """Parse an amount: plain numbers and currency strings such as ``$1,234.00``; negatives are unmappable."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = str(value).strip().replace("$", "").replace(",", "").replace(" ", "")
        try:
            number = float(text)
        except ValueError as exc:
            raise Unmappable(f"{field}: unparseable amount {value!r}") from exc
    if number < 0:
        raise Unmappable(f"{field}: negative amount {number}")
    return number


def money(value: object, currency: object, field: str) -> dict[str, Any] | None:
    """Return an OCDS Value, rejecting non-ISO currencies such as ``TEST`` and ``OTH``."""
    number = amount(value, field)
    if number is None:
        return None
    code = str(currency or "MXN").strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", code) or code in {"OTH", "XXX", "XTS"}:  # "other", "no currency", "testing"
        raise Unmappable(f"{field}: currency {currency!r} is not an ISO 4217 code")
    return {"amount": number, "currency": code}


def _clean(obj: Any) -> Any:
    """Drop None values and empty containers, so releases never send nulls they do not mean."""
    if isinstance(obj, dict):
        cleaned = {key: _clean(value) for key, value in obj.items()}
        return {key: value for key, value in cleaned.items() if value not in (None, "", [], {})}
    if isinstance(obj, list):
        return [_clean(value) for value in obj if value is not None]
    return obj


# -- parties --------------------------------------------------------------------------------------------------
def buyer_party(record: dict[str, Any]) -> dict[str, Any]:
    """The institution (dependencia) as buyer, identified by its acronym under the APF scheme ``MX-CPA``."""
    siglas = str(record.get("siglas") or "").strip()
    if not siglas:
        raise Unmappable("siglas: the buying institution has no acronym")
    return {
        "id": f"MX-CPA-{siglas}",
        "name": record.get("dependencia") or siglas,
        "identifier": {"scheme": "MX-CPA", "id": siglas, "legalName": record.get("dependencia")},
        "roles": ["buyer"],
    }


def procuring_party(record: dict[str, Any]) -> dict[str, Any] | None:
    """The buying unit (unidad compradora) as procuring entity; its head is kept as the contact point."""
    clave = str(record.get("clave_uc") or "").strip()
    if not clave:
        return None
    party = {
        "id": f"MX-UC-{clave}",
        "name": record.get("nombre_uc") or clave,
        "identifier": {"scheme": "MX-UC", "id": clave},
        "roles": ["procuringEntity"],
    }
    if record.get("responsable"):
        party["contactPoint"] = {"name": record["responsable"]}
    return party


def name_key(name: str) -> str:
    """A stable key for a name without an RFC: accents, case and punctuation removed."""
    return re.sub(r"[^A-Z0-9]+", " ", vocab.norm(name)).strip()


def supplier_party(record: dict[str, Any], roles: list[str]) -> dict[str, Any]:
    """A firm as a party: RFC as identifier (``MX-RFC``), RUPC folio as additional identifier."""
    name = str(record.get("proveedor") or "").strip()
    rfc = str(record.get("rfc") or "").strip().upper()
    if not name and not rfc:
        raise Unmappable("proveedor: the supplier has neither a name nor an RFC")
    if rfc:
        party_id = f"MX-RFC-{rfc}"
        identifier = {"scheme": "MX-RFC", "id": rfc, "legalName": name or None}
    else:
        party_id = "MX-NAME-" + hashlib.sha1(name_key(name).encode()).hexdigest()[:12]
        identifier = {"legalName": name}
    party: dict[str, Any] = {"id": party_id, "name": name or rfc, "identifier": identifier, "roles": roles}
    if record.get("folio_rupc"):
        party["additionalIdentifiers"] = [{"scheme": "MX-RUPC", "id": str(record["folio_rupc"])}]
    scale = vocab.SCALE.get(vocab.norm(record.get("estratificacion")))
    if scale:
        party["details"] = {"scale": scale}
    if record.get("pais"):
        party["address"] = {"countryName": record["pais"]}
    return party


def _ref(party: dict[str, Any]) -> dict[str, Any]:
    return {"id": party["id"], "name": party["name"]}


# -- releases -------------------------------------------------------------------------------------------------
def ocid_for(record: dict[str, Any], prefix: str) -> str:
    """``{prefix}-{numero_procedimiento}``; a blank procedure number falls back to the expediente (REFERENCE §1.9)."""
    numero = str(record.get("numero_procedimiento") or "").strip()
    if not numero:
        expediente = str(record.get("codigo_expediente") or "").strip()
        if not expediente:
            raise Unmappable("numero_procedimiento: blank, and no codigo_expediente to group by")
        numero = f"EXP-{expediente}"
    return f"{prefix}-{numero}"


def _base(record: dict[str, Any], stage: str, prefix: str, release_id: str | None = None) -> dict[str, Any]:
    if not str(record.get("id") or "").strip():
        raise Unmappable("id: the record has no identifier")
    date = rfc3339(record.get("actualizado"), "actualizado")
    if date is None:
        raise Unmappable("actualizado: the record has no update time")
    buyer = buyer_party(record)
    parties = [buyer]
    procuring = procuring_party(record)
    if procuring:
        parties.append(procuring)
    return {
        "ocid": ocid_for(record, prefix),
        "id": release_id or f"{stage}-{record['id']}",
        "date": date,
        "tag": [TAGS[stage]],
        "initiationType": "tender",
        "parties": parties,
        "buyer": _ref(buyer),
        "tender": _tender_core(record),
    }


def _tender_core(record: dict[str, Any]) -> dict[str, Any]:
    """The tender fields every stage record carries: its id and the procedure type (CompraNet repeats them)."""
    raw_type = record.get("tipo_procedimiento")
    return {
        "id": str(record.get("codigo_expediente") or record["id"]),
        "procurementMethod": vocab.procurement_method(raw_type),
        "procurementMethodDetails": raw_type,
    }


def _competitive(record: dict[str, Any]) -> bool:
    return vocab.procurement_method(record.get("tipo_procedimiento")) in ("open", "selective", "limited")


def map_planning(record: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Annual programme entry → ``planning`` release with the budget and a planned tender."""
    release = _base(record, "planning", prefix)
    release["planning"] = {
        "budget": {
            "id": f"{record.get('ramo')}-{record.get('clave_programa')}-{record.get('ejercicio')}",
            "description": record.get("descripcion"),
            "amount": money(record.get("monto_estimado"), record.get("moneda"), "monto_estimado"),
            "projectID": record.get("clave_programa"),
        }
    }
    release["tender"] = {
        **release["tender"],
        "status": "planned",
        "items": [_item("1", record.get("clave_cucop"), record.get("descripcion"))],
    }
    return _clean(release)


def _item(
    item_id: str, cucop: object, description: object, quantity: object = None, unit: object = None
) -> dict[str, Any]:
    return {
        "id": item_id,
        "description": description,
        "classification": {"scheme": "CUCOP", "id": str(cucop), "description": description} if cucop else None,
        "quantity": quantity,
        "unit": {"name": unit} if unit else None,
    }


def map_tender(record: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Tender notice (registro del procedimiento) → ``tender`` release."""
    release = _base(record, "tenders", prefix)
    procuring = procuring_party(record)
    start = rfc3339(record.get("fecha_publicacion"), "fecha_publicacion")
    end = rfc3339(record.get("fecha_apertura"), "fecha_apertura")
    release["tender"] = {
        **release["tender"],
        "title": record.get("titulo_expediente"),
        "status": "active",
        "mainProcurementCategory": vocab.CATEGORIES.get(vocab.norm(record.get("tipo_contratacion"))),
        "submissionMethod": vocab.SUBMISSION.get(vocab.norm(record.get("forma_procedimiento"))),
        "tenderPeriod": {"startDate": start, "endDate": end} if _competitive(record) else None,
        "procuringEntity": _ref(procuring) if procuring else None,
        "value": money(record.get("monto_estimado"), record.get("moneda"), "monto_estimado"),
        "items": [
            _item(
                str(p.get("partida", i)),
                p.get("clave_cucop"),
                p.get("descripcion"),
                p.get("cantidad"),
                p.get("unidad"),
            )
            for i, p in enumerate(record.get("partidas") or [], start=1)
        ],
        "documents": [{"id": "anuncio", "documentType": "tenderNotice", "url": record["anuncio"]}]
        if record.get("anuncio")
        else None,
        "procurementMethodCharacterMxCnet": record.get("caracter"),
    }
    return _clean(release)


def map_bids(records: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
    """The bids of one procedure opened together → one ``tenderUpdate`` release with the bids extension.

    ``tender/numberOfTenderers`` is filled from the distinct bidders, since Cardinal's R018 reads only it.
    """
    first = max(records, key=lambda r: (str(r.get("actualizado")), str(r.get("id"))))
    digest = hashlib.sha1("|".join(sorted(str(r.get("id")) for r in records)).encode()).hexdigest()[:10]
    release = _base(first, "bids", prefix, release_id=f"bids-{first.get('codigo_expediente')}-{digest}")
    details: list[dict[str, Any]] = []
    tenderers: dict[str, dict[str, Any]] = {}
    currency = None
    for record in sorted(records, key=lambda r: str(r.get("id"))):
        party = supplier_party(record, ["tenderer"])
        tenderers.setdefault(party["id"], party)
        status = vocab.BID_STATUS.get(vocab.norm(record.get("estatus")))
        value = money(record.get("monto"), record.get("moneda"), "monto")
        currency = currency or (value or {}).get("currency")
        details.append(
            {
                "id": str(record["id"]),
                "date": rfc3339(record.get("fecha_presentacion"), "fecha_presentacion"),
                "status": status,
                "tenderers": [_ref(party)],
                "value": value,
            }
        )
    release["parties"].extend(tenderers.values())
    valid = [d for d in details if d.get("status") == "valid"]
    amounts = [d["value"]["amount"] for d in valid if d.get("value")]
    stats = [
        ("bids", len(details)),
        ("validBids", len(valid)),
        ("disqualifiedBids", sum(d.get("status") == "disqualified" for d in details)),
        ("bidders", len(tenderers)),
    ]
    statistics: list[dict[str, Any]] = [
        {"id": measure, "measure": measure, "value": value} for measure, value in stats
    ]
    if amounts:
        statistics += [
            {
                "id": "lowestValidBidValue",
                "measure": "lowestValidBidValue",
                "value": min(amounts),
                "currency": currency,
            },
            {
                "id": "highestValidBidValue",
                "measure": "highestValidBidValue",
                "value": max(amounts),
                "currency": currency,
            },
        ]
    release["tender"] = {
        **release["tender"],
        "numberOfTenderers": len(tenderers),
        "tenderers": [_ref(p) for p in tenderers.values()],
    }
    release["bids"] = {"details": details, "statistics": statistics}
    return _clean(release)


def map_award(record: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Fallo → ``award`` release; the award id is the contract code (PODER's convention, REFERENCE §1.4)."""
    release = _base(record, "awards", prefix)
    roles = ["tenderer", "supplier"] if _competitive(record) else ["supplier"]
    supplier = supplier_party(record, roles)
    release["parties"].append(supplier)
    code = str(record.get("codigo_contrato") or "").strip()
    if not code:
        raise Unmappable("codigo_contrato: the award names no contract code")
    release["awards"] = [
        {
            "id": code,
            "status": "active",
            "date": rfc3339(record.get("fecha_fallo"), "fecha_fallo"),
            "value": money(record.get("monto"), record.get("moneda"), "monto"),
            "suppliers": [_ref(supplier)],
            "items": [_item("1", record.get("clave_cucop"), None)] if record.get("clave_cucop") else None,
        }
    ]
    return _clean(release)


def _award_stub(code: str, supplier: dict[str, Any] | None = None) -> dict[str, Any]:
    """The award a contract implies: id, status and supplier only, so merging never overwrites its value or date.

    A nightly window sees contracts, amendments and payments of processes awarded before the window; without the
    stub their ``contracts/awardID`` would name an award that is not in the data.
    """
    stub: dict[str, Any] = {"id": code, "status": "active"}
    if supplier is not None:
        stub["suppliers"] = [_ref(supplier)]
    return stub


def map_contract(record: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Contract → ``contract`` release (``awardID`` = ``id`` = contract code)."""
    release = _base(record, "contracts", prefix)
    roles = ["tenderer", "supplier"] if _competitive(record) else ["supplier"]
    supplier = supplier_party(record, roles)
    release["parties"].append(supplier)
    code = str(record.get("codigo_contrato") or record["id"])
    release["awards"] = [_award_stub(code, supplier)]
    release["contracts"] = [
        {
            "id": code,
            "awardID": code,
            "title": record.get("titulo_contrato"),
            "status": vocab.CONTRACT_STATUS.get(vocab.norm(record.get("estatus"))),
            "period": {
                "startDate": rfc3339(record.get("fecha_inicio"), "fecha_inicio"),
                "endDate": rfc3339(record.get("fecha_fin"), "fecha_fin"),
            },
            "value": money(record.get("importe"), record.get("moneda"), "importe"),
            "dateSigned": rfc3339(record.get("fecha_celebracion"), "fecha_celebracion"),
        }
    ]
    return _clean(release)


def map_amendment(record: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Convenio modificatorio → ``contractAmendment`` release with the new value and end date.

    The amendment entry keeps the values before and after (project extension), so that a compiled release still
    shows the increase while ``contracts/value`` and ``contracts/period/endDate`` hold the amended values.
    """
    release = _base(record, "amendments", prefix)
    code = str(record.get("codigo_contrato") or "").strip()
    if not code:
        raise Unmappable("codigo_contrato: the amendment names no contract")
    currency = record.get("moneda")
    new_value = money(record.get("importe_nuevo"), currency, "importe_nuevo")
    old_value = money(record.get("importe_anterior"), currency, "importe_anterior")
    new_end = rfc3339(record.get("fecha_fin_nueva"), "fecha_fin_nueva")
    old_end = rfc3339(record.get("fecha_fin_anterior"), "fecha_fin_anterior")
    release["awards"] = [_award_stub(code)]
    changes = []
    if old_value and new_value and old_value["amount"] != new_value["amount"]:
        changes.append(f"importe {old_value['amount']:,.2f} → {new_value['amount']:,.2f} {new_value['currency']}")
    if old_end and new_end and old_end != new_end:
        changes.append(f"fin {old_end[:10]} → {new_end[:10]}")
    release["contracts"] = [
        {
            "id": code,
            "awardID": code,
            "value": new_value,
            "period": {"endDate": new_end},
            "amendments": [
                {
                    "id": str(record["id"]),
                    "date": rfc3339(record.get("fecha_firma"), "fecha_firma"),
                    "rationale": record.get("motivo"),
                    "description": f"Convenio modificatorio {record.get('numero_convenio', '')}: "
                    + ("; ".join(changes) or "sin cambio de importe ni plazo"),
                    "releaseID": release["id"],
                    "previousValue": old_value,
                    "newValue": new_value,
                    "previousEndDate": old_end,
                    "newEndDate": new_end,
                }
            ],
        }
    ]
    return _clean(release)


def map_payment(record: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Payment → ``implementation`` release with one transaction (payer: the buyer, payee: the supplier)."""
    release = _base(record, "payments", prefix)
    code = str(record.get("codigo_contrato") or "").strip()
    if not code:
        raise Unmappable("codigo_contrato: the payment names no contract")
    payee = supplier_party(record, (["tenderer"] if _competitive(record) else []) + ["supplier", "payee"])
    release["parties"].append(payee)
    release["awards"] = [_award_stub(code, payee)]
    release["contracts"] = [
        {
            "id": code,
            "awardID": code,
            "implementation": {
                "transactions": [
                    {
                        "id": str(record["id"]),
                        "date": rfc3339(record.get("fecha_pago"), "fecha_pago"),
                        "value": money(record.get("monto"), record.get("moneda"), "monto"),
                        "payer": release["buyer"],
                        "payee": _ref(payee),
                    }
                ]
            },
        }
    ]
    return _clean(release)


MAPPERS: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {
    "planning": map_planning,
    "tenders": map_tender,
    "awards": map_award,
    "contracts": map_contract,
    "amendments": map_amendment,
    "payments": map_payment,
}


BidKey = tuple[str, str]


class BidGroups(Protocol):
    """Where the bids of a window are gathered by procedure until every record has been read."""

    def add(self, key: BidKey, record: dict[str, Any]) -> None:
        """Take one bid record."""

    def groups(self) -> Iterable[list[dict[str, Any]]]:
        """Return the groups, in the order their first bid came, each in the order its bids came."""


class MemoryBidGroups:
    """Bid groups held in a dict: for windows whose bids fit in memory."""

    def __init__(self) -> None:
        self.found: dict[BidKey, list[dict[str, Any]]] = {}

    def add(self, key: BidKey, record: dict[str, Any]) -> None:
        """Take one bid record."""
        self.found.setdefault(key, []).append(record)

    def groups(self) -> Iterable[list[dict[str, Any]]]:
        """Return the groups in first-come order."""
        return self.found.values()


def bid_key(record: dict[str, Any]) -> BidKey:
    """The procedure a bid belongs to: its number and expediente."""
    return str(record.get("numero_procedimiento") or ""), str(record.get("codigo_expediente") or "")


def quarantine_entry(stage: str, record: dict[str, Any], reason: str) -> dict[str, Any]:
    """A quarantined record with the reason it could not be mapped."""
    return {"stage": stage, "record_id": record.get("id"), "reason": reason, "record": record}


def iter_releases(
    records: Iterable[tuple[str, dict[str, Any]]],
    prefix: str,
    quarantine: Callable[[dict[str, Any]], object],
    bid_groups: BidGroups | None = None,
) -> Iterator[dict[str, Any]]:
    """Map ``(stage, record)`` pairs to releases as a stream; hand each unmappable record to ``quarantine``.

    Every record but the bids is mapped as it comes. Bids wait in ``bid_groups`` (in memory unless given) until
    the input ends, since the bids of one procedure may come on any page; then each group becomes one release.
    """
    bids = bid_groups if bid_groups is not None else MemoryBidGroups()
    for stage, record in records:
        if stage == "bids":
            bids.add(bid_key(record), record)
            continue
        mapper = MAPPERS.get(stage)
        try:
            if mapper is None:
                raise Unmappable(f"unknown stage {stage!r}")
            release = mapper(record, prefix)
        except Unmappable as exc:
            quarantine(quarantine_entry(stage, record, str(exc)))
            continue
        yield release
    for group in bids.groups():
        try:
            release = map_bids(group, prefix)
        except Unmappable as exc:
            for record in group:
                quarantine(quarantine_entry("bids", record, str(exc)))
            continue
        yield release


def to_releases(
    records: Iterable[tuple[str, dict[str, Any]]], prefix: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Map ``(stage, record)`` pairs to releases; return ``(releases, quarantined)``.

    Every input record ends up in exactly one of the two: in = mapped + quarantined.
    """
    quarantined: list[dict[str, Any]] = []
    releases = list(iter_releases(records, prefix, quarantined.append))
    return releases, quarantined


# The mapping, written down once. ``transforms.docs`` renders it as docs/mapping.md, and a test runs every mapper
# on simulated records and checks each OCDS path listed here is really produced, so the table cannot drift.
# (stage, source field, OCDS path, rule)
FIELD_MAP: list[tuple[str, str, str, str]] = [
    (
        "*",
        "numero_procedimiento",
        "ocid",
        "`{prefix}-{numero_procedimiento}`; blank → `{prefix}-EXP-{codigo_expediente}`",
    ),
    ("*", "id", "id", "`{stage}-{id}`: deterministic, unique within the ocid, no `#`"),
    ("*", "actualizado", "date", "RFC 3339 with the Mexico City offset in force that day (zoneinfo)"),
    ("*", "siglas, dependencia", "buyer; parties[buyer]", "party `MX-CPA-{siglas}`, identifier scheme `MX-CPA`"),
    ("*", "clave_uc, nombre_uc", "parties[procuringEntity]", "party `MX-UC-{clave_uc}`, identifier scheme `MX-UC`"),
    ("*", "codigo_expediente", "tender/id", "the expediente (PODER's convention)"),
    (
        "*",
        "tipo_procedimiento",
        "tender/procurementMethod",
        "prefix rules: LICITACION→open, INVITACION→selective, ADJUDICACION→direct",
    ),
    ("*", "tipo_procedimiento", "tender/procurementMethodDetails", "the raw value, kept for Cardinal's settings"),
    ("planning", "monto_estimado, moneda", "planning/budget/amount", "Value; non-ISO currencies are quarantined"),
    ("planning", "clave_programa", "planning/budget/projectID", "as published"),
    ("planning", "clave_cucop", "tender/items/classification", "scheme `CUCOP`, id as a string"),
    (
        "tenders",
        "responsable",
        "parties[procuringEntity]/contactPoint/name",
        "personal data: redacted on publication by policy",
    ),
    ("tenders", "titulo_expediente", "tender/title", "as published"),
    (
        "tenders",
        "tipo_contratacion",
        "tender/mainProcurementCategory",
        "Adquisiciones/Arrendamientos→goods, Servicios→services, Obra…→works",
    ),
    (
        "tenders",
        "forma_procedimiento",
        "tender/submissionMethod",
        "Electrónica→electronicSubmission, Presencial→inPerson, Mixta→both",
    ),
    ("tenders", "fecha_publicacion", "tender/tenderPeriod/startDate", "competitive procedures only"),
    ("tenders", "fecha_apertura", "tender/tenderPeriod/endDate", "bid opening; competitive procedures only"),
    ("tenders", "monto_estimado", "tender/value", "Value"),
    ("tenders", "partidas[].clave_cucop", "tender/items/classification/id", "scheme `CUCOP`"),
    ("tenders", "anuncio", "tender/documents/url", "documentType `tenderNotice`"),
    ("tenders", "caracter", "tender/procurementMethodCharacterMxCnet", "raw (project extension)"),
    (
        "bids",
        "rfc, proveedor",
        "bids/details/tenderers; parties[tenderer]",
        "party `MX-RFC-{RFC}` (else `MX-NAME-{hash}`)",
    ),
    ("bids", "folio_rupc", "parties/additionalIdentifiers", "scheme `MX-RUPC`"),
    (
        "bids",
        "estratificacion",
        "parties/details/scale",
        "Micro→micro, Pequeña/Mediana→sme, No MIPYME→large (partyScale)",
    ),
    ("bids", "monto, moneda", "bids/details/value", "Value"),
    ("bids", "estatus", "bids/details/status", "valida→valid, desechada→disqualified"),
    ("bids", "fecha_presentacion", "bids/details/date", "RFC 3339"),
    (
        "bids",
        "(count)",
        "tender/numberOfTenderers",
        "distinct tenderers of the procedure (Cardinal's R018 reads only this)",
    ),
    ("bids", "(count)", "bids/statistics", "bids, validBids, disqualifiedBids, bidders, lowest/highest valid bid"),
    ("awards", "codigo_contrato", "awards/id", "the contract code (awards/id = contracts/id = contracts/awardID)"),
    ("awards", "fecha_fallo", "awards/date", "RFC 3339"),
    ("awards", "monto, moneda", "awards/value", "Value: the award value before any amendment"),
    ("awards", "rfc, proveedor", "awards/suppliers; parties[supplier]", "as for bids"),
    ("awards", "clave_cucop", "awards/items/classification/id", "scheme `CUCOP` (Cardinal's R048 reads it)"),
    ("contracts", "codigo_contrato", "contracts/id; contracts/awardID", "the contract code"),
    (
        "contracts",
        "codigo_contrato",
        "awards/id; awards/status",
        "an award stub (id, active, supplier): never overwrites the fallo's value or date",
    ),
    ("contracts", "titulo_contrato", "contracts/title", "as published"),
    (
        "contracts",
        "estatus",
        "contracts/status",
        "Activo/Formalizado→active, Terminado/Expirado/Rescindido→terminated, Publicado→pending",
    ),
    ("contracts", "fecha_inicio, fecha_fin", "contracts/period", "local midnight"),
    ("contracts", "importe, moneda", "contracts/value", "Value"),
    ("contracts", "fecha_celebracion", "contracts/dateSigned", "RFC 3339"),
    ("amendments", "id", "contracts/amendments/id", "stable id: amendments merge by identifier"),
    ("amendments", "fecha_firma", "contracts/amendments/date", "RFC 3339"),
    ("amendments", "motivo", "contracts/amendments/rationale", "as published"),
    (
        "amendments",
        "importe_anterior, importe_nuevo",
        "contracts/amendments/description",
        "a sentence with both values and end dates",
    ),
    ("amendments", "importe_anterior", "contracts/amendments/previousValue", "project extension"),
    (
        "amendments",
        "importe_nuevo",
        "contracts/amendments/newValue; contracts/value",
        "the contract value after the amendment",
    ),
    ("amendments", "fecha_fin_anterior", "contracts/amendments/previousEndDate", "project extension"),
    (
        "amendments",
        "fecha_fin_nueva",
        "contracts/amendments/newEndDate; contracts/period/endDate",
        "the end date after the amendment",
    ),
    ("payments", "id", "contracts/implementation/transactions/id", "one transaction per payment"),
    ("payments", "fecha_pago", "contracts/implementation/transactions/date", "RFC 3339"),
    ("payments", "monto, moneda", "contracts/implementation/transactions/value", "Value"),
    ("payments", "rfc, proveedor", "contracts/implementation/transactions/payee", "payer is the buyer"),
]
