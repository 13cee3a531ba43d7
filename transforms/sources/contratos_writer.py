"""Write a simulated universe as CompraNet "Contratos" bulk files in the real layouts, plus its JSON Lines feeds.

One row per contract (REFERENCE §1.4), joined from the simulator's tender, award, contract, amendment and planning
records. Header orders come from ``schemas/sources/compranet_layouts.json`` through the bulk reader, so the writer and
the reader cannot drift apart. Each layout is written the way its generation was published (§1.6–§1.8):

- ``PLUS_45``: UTF-8, 2010–2017 title-case values, ``YYYY-MM-DD 00:00:00 GMT`` for the award and signature dates and
  ``YYYY-MM-DD HH:MM`` local times for publication and opening; no RFC column.
- ``MIXED_44``: UTF-8, the 2019 mixed-case header with UPPERCASE values, dates as in ``PLUS_45``.
- ``COMPRASMX_73``: Windows-1252, UPPERCASE values, ``Moneda`` and ``Convenio modificatorio`` each twice (the first
  of each pair belongs to the contract, the second to the convenio block), day-first ``DD/MM/YYYY`` contract dates
  and publication times in the two forms seen in one file. Only 56 of its 73 columns are known (54 names, two of them
  twice; §1.3): the known ones follow the JSON's order and the rest are written blank under ``Columna sin documentar
  NN`` placeholders, as in the reader's test fixture.

The simulator's procedure numbers and contract codes are kept in every layout, so the three files describe the
same contracts and their ocids match the stage API's. Amounts are the contract's original amount; an amended
contract only shows the 0/1 convenio flag, as in the real exports.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from transforms import jsonio
from transforms.errors import SourceError
from transforms.sources.compranet_csv import Layout, layouts
from transforms.sources.simulator import STAGES, Universe

WRITABLE = ("PLUS_45", "MIXED_44", "COMPRASMX_73")
ENCODINGS = {"PLUS_45": "utf-8", "MIXED_44": "utf-8", "COMPRASMX_73": "cp1252"}
# ComprasMX repeats these names (REFERENCE §1.3); the second of each pair follows the first.
REPEATED = ("Moneda", "Convenio modificatorio")
UNDOCUMENTED = "Columna sin documentar {:02d}"
VAT = 0.16  # IVA: ComprasMX gives the maximum amount with and without tax
COUNTRY_NAMES = {"MX": "MÉXICO", "US": "ESTADOS UNIDOS", "ES": "ESPAÑA", "CN": "CHINA", "DE": "ALEMANIA"}

Facts = dict[str, Any]


def layout_for(key: str) -> Layout:
    """Return a writable layout by key, or raise :class:`SourceError` naming the writable ones."""
    if key not in WRITABLE:
        raise SourceError(f"cannot write layout {key!r}; writable layouts are {', '.join(WRITABLE)}")
    return next(layout for layout in layouts() if layout.key == key)


def header(key: str) -> list[str]:
    """Return the header row a layout is written with."""
    layout = layout_for(key)
    names = list(layout.columns)
    if key == "COMPRASMX_73":
        for name in REPEATED:
            names.insert(names.index(name) + 1, name)
        names += [UNDOCUMENTED.format(number) for number in range(1, layout.cells - len(names) + 1)]
    return names


def file_name(universe: Universe, key: str) -> str:
    """Name a layout's file like the real downloads, e.g. ``Contratos2026_PLUS_45.csv``."""
    first, last = universe.config.start.year, universe.config.end.year
    years = str(first) if first == last else f"{first}_{last}"  # like Contratos2010_2012.xlsx
    return f"Contratos{years}_{key}.csv"


# -- facts ----------------------------------------------------------------------------------------------------
def contract_facts(universe: Universe) -> Iterator[Facts]:
    """Yield, per contract, the records a Contratos row is made of (tender, award, contract, planning, convenios)."""
    tenders = {t["numero_procedimiento"]: t for t in universe.records["tenders"]}
    awards = {a["codigo_contrato"]: a for a in universe.records["awards"]}
    planning = {p["numero_procedimiento"]: p for p in universe.records["planning"]}
    convenios = Counter(a["codigo_contrato"] for a in universe.records["amendments"])
    for contract in universe.records["contracts"]:
        numero = contract["numero_procedimiento"]
        yield {
            "tender": tenders[numero],
            "award": awards[contract["codigo_contrato"]],
            "contract": contract,
            "planning": planning.get(numero, {}),
            "convenios": convenios[contract["codigo_contrato"]],
        }


def _moment(stamp: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(stamp) if stamp else None  # stamps carry the Mexico City offset already


def _gmt_date(stamp: str | None) -> str:
    # CompraNet labels a calendar date "00:00:00 GMT" (REFERENCE §1.7): the local day, not a UTC instant.
    moment = _moment(stamp)
    return f"{moment:%Y-%m-%d} 00:00:00 GMT" if moment else ""


def _minutes(stamp: str | None) -> str:
    moment = _moment(stamp)
    return f"{moment:%Y-%m-%d %H:%M}" if moment else ""


def _day_first(value: str | None) -> str:
    moment = _moment(value)
    return f"{moment:%d/%m/%Y}" if moment else ""


def _amount(value: float) -> str:
    return f"{value:.2f}"


def _letter(facts: Facts) -> str:
    return str(facts["tender"]["numero_procedimiento"])[0]


def _law(facts: Facts) -> str:
    return "LOPSRM" if str(facts["tender"]["plantilla_expediente"]).endswith("LOPSRM") else "LAASSP"


def _legal_basis(facts: Facts) -> str:
    # LAASSP art. 26 (tenders and invitations) and 42 (direct awards); LOPSRM art. 27 and 43.
    lopsrm = _law(facts) == "LOPSRM"
    article = {
        "L": "27 FRACCIÓN I" if lopsrm else "26 FRACCIÓN I",
        "I": "27 FRACCIÓN II" if lopsrm else "26 FRACCIÓN II",
    }
    if _letter(facts) == "A":
        return f"ART. {43 if lopsrm else 42} {_law(facts)}"
    if _letter(facts) in article:
        return f"ART. {article[_letter(facts)]} {_law(facts)}"
    return ""


def _multi_year(contract: dict[str, Any]) -> bool:
    return str(contract["fecha_fin"])[:4] > str(contract["fecha_inicio"])[:4]


def _common(facts: Facts) -> dict[str, str]:
    """Values every layout shares, in the 2010–2017 (title-case) spelling."""
    tender, award, contract = facts["tender"], facts["award"], facts["contract"]
    return {
        "gobierno": tender["orden_gobierno"],
        "siglas": contract["siglas"],
        "dependencia": contract["dependencia"],
        "clave_uc": contract["clave_uc"],
        "nombre_uc": contract["nombre_uc"],
        "responsable": tender["responsable"],
        "codigo_expediente": contract["codigo_expediente"],
        "titulo_expediente": tender["titulo_expediente"],
        "plantilla_expediente": tender["plantilla_expediente"],
        "numero_procedimiento": contract["numero_procedimiento"],
        "caracter": tender["caracter"],
        "tipo_contratacion": tender["tipo_contratacion"],
        "tipo_procedimiento": tender["tipo_procedimiento"],
        "forma_procedimiento": tender["forma_procedimiento"] or "",
        "codigo_contrato": contract["codigo_contrato"],
        "titulo_contrato": contract["titulo_contrato"],
        "fecha_inicio": contract["fecha_inicio"],
        "fecha_fin": contract["fecha_fin"],
        "importe": _amount(contract["importe"]),
        "moneda": contract["moneda"],
        "estatus": contract["estatus"],
        "convenio_modificatorio": "1" if facts["convenios"] else "0",
        "ramo": tender["ramo"],
        "clave_programa": facts["planning"].get("clave_programa", ""),
        "clave_cucop": award["clave_cucop"],
        "folio_rupc": contract["folio_rupc"] or "",
        "rfc": contract["rfc"] or "",
        "proveedor": contract["proveedor"],
        "estratificacion": contract["estratificacion"],
        "pais": contract["pais"],
        "anuncio": tender["anuncio"],
    }


def _upper(values: dict[str, str], keys: tuple[str, ...]) -> dict[str, str]:
    return {**values, **{key: values[key].upper() for key in keys if values.get(key)}}


_UPPER_KEYS = (
    "dependencia",
    "nombre_uc",
    "responsable",
    "caracter",
    "tipo_contratacion",
    "tipo_procedimiento",
    "forma_procedimiento",
    "estatus",
    "estratificacion",
)


def plus45_values(facts: Facts) -> dict[str, str]:
    """Return a ``PLUS_45`` row by canonical key: 2010–2017 title case, GMT-labelled dates."""
    tender, award, contract = facts["tender"], facts["award"], facts["contract"]
    return {
        **_common(facts),
        "fecha_fallo": _gmt_date(award["fecha_fallo"]),
        "fecha_publicacion": _minutes(tender["fecha_publicacion"]),
        "fecha_apertura": _minutes(tender["fecha_apertura"]),
        "fecha_celebracion": _gmt_date(contract["fecha_celebracion"]),
        "archivado": "No",
        "aportacion_federal": "",
        "contrato_marco": "0",
        "compra_consolidada": "0",
        "plurianual": "1" if _multi_year(contract) else "0",
        "estratificacion_uc": contract["estratificacion"],
        "estatus_empresa": "Habilitado",
        "cuenta_administrada_por": "UC",
        "credito_externo": "0",
    }


def mixed44_values(facts: Facts) -> dict[str, str]:
    """Return a ``MIXED_44`` row by canonical key: UPPERCASE values, dates as in ``PLUS_45``."""
    values = plus45_values(facts)
    contract = facts["contract"]
    values.update(
        referencia_expediente=f"{contract['siglas']}-{contract['codigo_expediente']}",
        fundamento_legal=_legal_basis(facts),
        numero_contrato=f"{contract['siglas']}-C-{contract['codigo_contrato']}",
        rfc_verificado_sat="1" if contract["rfc"] else "0",
    )
    return _upper(values, _UPPER_KEYS)


def comprasmx_values(facts: Facts) -> tuple[dict[str, str], dict[str, str]]:
    """Return a ``COMPRASMX_73`` row by canonical key, and the values of the repeated (convenio block) columns."""
    tender, award, contract = facts["tender"], facts["award"], facts["contract"]
    values = _upper(_common(facts), _UPPER_KEYS)
    published = _moment(tender["fecha_publicacion"])
    assert published is not None
    # One loader reads "YYYY/M/D H:MM" in the 2025 file where others read ISO (§1.7): both forms occur in one file.
    if int(contract["codigo_contrato"]) % 2:
        publication = f"{published.year}/{published.month}/{published.day} {published.hour}:{published.minute:02d}"
    else:
        publication = f"{published:%Y-%m-%d %H:%M:%S}"
    opening = _moment(tender["fecha_apertura"])
    fallo = _moment(award["fecha_fallo"])
    assert fallo is not None
    direct = _letter(facts) == "A"
    values.update(
        referencia_expediente=f"{contract['siglas']}-{contract['codigo_expediente']}",
        ley=_law(facts),
        articulo_excepcion=(f"ART. {43 if _law(facts) == 'LOPSRM' else 42}" if direct else ""),
        caso_fortuito="NO",
        contrato_marco="NO",
        compra_consolidada="NO",
        plurianual="SI" if _multi_year(contract) else "NO",
        fecha_publicacion=publication,
        fecha_apertura=f"{opening:%Y-%m-%d %H:%M:%S}" if opening else "",
        fecha_fallo=f"{fallo:%Y-%m-%d} 00:00:00",
        numero_contrato=f"{contract['siglas']}-C-{contract['codigo_contrato']}",
        descripcion_contrato=tender["partidas"][0]["descripcion"],
        estatus_drc="PUBLICADO",
        fecha_inicio=_day_first(contract["fecha_inicio"]),
        fecha_fin=_day_first(contract["fecha_fin"]),
        fecha_celebracion=_day_first(contract["fecha_celebracion"]),
        monto_maximo_sin_imp=values["importe"],
        monto_maximo_con_imp=_amount(contract["importe"] * (1 + VAT)),
        tipo_contrato="CERRADO",
        pais=COUNTRY_NAMES.get(contract["pais"], contract["pais"]),
        nacionalidad="MEXICANA" if contract["pais"] == "MX" else "EXTRANJERA",
    )
    convenio = (
        {"moneda": contract["moneda"], "convenio_modificatorio": str(facts["convenios"])} if facts["convenios"] else {}
    )
    return values, convenio


def rows(universe: Universe, key: str) -> Iterator[list[str]]:
    """Yield the data rows of one layout, one per contract, in header order."""
    layout = layout_for(key)
    names = header(key)
    for facts in contract_facts(universe):
        second: dict[str, str] = {}
        if key == "PLUS_45":
            first = plus45_values(facts)
        elif key == "MIXED_44":
            first = mixed44_values(facts)
        else:
            first, second = comprasmx_values(facts)
        cells, seen = [], set()
        for name in names:
            canonical = layout.keys.get(name)
            if canonical is None:
                cells.append("")
            elif canonical in seen:
                cells.append(second.get(canonical, ""))
            else:
                seen.add(canonical)
                cells.append(first.get(canonical, ""))
        yield cells


def write_contratos(universe: Universe, out_dir: Path, layout: str) -> Path:
    """Write one Contratos file in a layout (``PLUS_45``, ``MIXED_44`` or ``COMPRASMX_73``); return its path."""
    layout_for(layout)  # fail before anything is written
    path = Path(out_dir) / file_name(universe, layout)
    with jsonio.atomic_path(path) as tmp, open(tmp, "w", encoding=ENCODINGS[layout], newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header(layout))
        writer.writerows(rows(universe, layout))
    return path


def write_all(universe: Universe, out_dir: Path) -> dict[str, Any]:
    """Write each stage as ``<stage>.jsonl``, the ground truth, suppliers, config and one Contratos file per layout."""
    out = Path(out_dir)
    stages = {stage: jsonio.write_jsonl(out / f"{stage}.jsonl", universe.records[stage]) for stage in STAGES}
    summary: dict[str, Any] = {
        "stages": stages,
        "ground_truth": jsonio.write_jsonl(out / "ground_truth.jsonl", universe.ground_truth),
        "suppliers": jsonio.write_jsonl(out / "suppliers.jsonl", universe.suppliers),
        "contratos": {},
    }
    jsonio.write_json(out / "config.json", universe.config.to_dict())
    for layout in WRITABLE:
        path = write_contratos(universe, out, layout)
        summary["contratos"][layout] = {"file": path.name, "rows": len(universe.records["contracts"])}
    return summary
