"""A deterministic CompraNet-like universe: buyers, suppliers, every stage of every procedure, planted risk patterns.

The simulator is the embedded default source for the demo and the tests. Shares are calibrated to published
Mexican figures (REFERENCE §7): ~79% direct awards by count but ~40% of value, ~11% public tenders, ~6%
invitations. Risk patterns are planted at configurable rates and written to a ground-truth list, so indicators can
be scored for precision and recall.

Stage records use CompraNet's Spanish vocabulary (``numero_procedimiento``, ``codigo_expediente`` …) and carry an
``actualizado`` timestamp (RFC 3339, Mexico City offset) that the stage API filters on.
"""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from transforms.intervals import MEXICO_CITY
from transforms.sources import catalog

STAGES = ("planning", "tenders", "bids", "awards", "contracts", "amendments", "payments")
TEMPLATE_NUMBERS = {"open": "01", "invitation": "04", "direct": "07", "other": "08"}
PATTERNS = ("single_bid", "short_submission", "amendment_increase", "amendment_extension")
T = TypeVar("T")


@dataclass(frozen=True)
class SimulationConfig:
    """Size, window and planted-pattern rates of a simulated universe."""

    seed: int = 42
    procedures: int = 1500
    start: dt.date = dt.date(2026, 10, 1)
    end: dt.date = dt.date(2026, 11, 20)
    institutions: int = 24
    suppliers: int = 600
    # Planted patterns: share of eligible procedures or contracts.
    single_bid_rate: float = 0.15  # of open tenders
    short_submission_rate: float = 0.08  # of open tenders
    amendment_increase_rate: float = 0.04  # of contracts
    amendment_extension_rate: float = 0.04  # of contracts
    benign_amendment_rate: float = 0.03  # small amendments that are not a risk pattern
    name_variant_rate: float = 0.25  # records that spell the supplier's name differently
    missing_rfc_rate: float = 0.10  # records without the supplier's RFC
    planning_rate: float = 0.7  # competitive procedures with an annual-programme entry

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable copy."""
        data = asdict(self)
        data["start"] = self.start.isoformat()
        data["end"] = self.end.isoformat()
        return data


@dataclass
class Universe:
    """Every stage record of a simulated universe, plus its ground truth."""

    config: SimulationConfig
    records: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {stage: [] for stage in STAGES})
    ground_truth: list[dict[str, Any]] = field(default_factory=list)
    suppliers: list[dict[str, Any]] = field(default_factory=list)
    buyers: list[dict[str, Any]] = field(default_factory=list)

    def count(self) -> dict[str, int]:
        """Return the number of records per stage."""
        return {stage: len(rows) for stage, rows in self.records.items()}


def _weighted(rng: random.Random, options: Sequence[tuple[T, float]]) -> T:
    values, weights = zip(*options, strict=True)
    return rng.choices(values, weights=weights)[0]


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def _stamp(moment: dt.datetime) -> str:
    """RFC 3339 with the Mexico City offset in force at that moment."""
    return moment.astimezone(MEXICO_CITY).isoformat(timespec="seconds")


def _rfc(rng: random.Random, name: str, founded: dt.date) -> str:
    letters = "".join(c for c in _strip_accents(name).upper() if c.isalpha())[:3].ljust(3, "X")
    homoclave = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(3))
    return f"{letters}{founded:%y%m%d}{homoclave}"


def _name_variant(rng: random.Random, name: str, legal_form: str) -> str:
    base = name[: -len(legal_form)].strip().rstrip(",")
    choice = rng.randrange(4)
    if choice == 0:
        return f"{base} {rng.choice(catalog.LEGAL_FORM_VARIANTS[legal_form])}"
    if choice == 1:
        return name.upper()
    if choice == 2:
        return _strip_accents(name).upper()
    return f"{base}, {legal_form}"


class _Builder:
    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.universe = Universe(config)
        self.expediente = 1_000_000
        self.contract_code = 2_000_000
        self.procedure_counter: dict[str, int] = {}

    # -- entities ---------------------------------------------------------------------------------------------
    def make_buyers(self) -> None:
        rng = self.rng
        institutions = catalog.INSTITUTIONS[: self.config.institutions]
        for index, (siglas, name, ramo) in enumerate(institutions):
            units = []
            for unit_index in range(rng.randint(1, 3)):
                clave_uc = (
                    f"{ramo.zfill(3)}{chr(65 + index % 26)}{rng.randint(0, 9)}{chr(65 + unit_index)}"
                    f"{rng.randint(1, 999):03d}"
                )
                units.append(
                    {"clave_uc": clave_uc, "nombre_uc": f"{siglas}-{rng.choice(catalog.UC_UNITS)} #{clave_uc}"}
                )
            # A Zipf-like weight: a few institutions buy most, as in CompraNet.
            weight = 1.0 / (index + 1) ** 0.8
            first = rng.choice(["María", "José", "Juan", "Ana", "Luis", "Laura"])
            responsable = f"{first} {rng.choice(['García', 'Hernández', 'López', 'Martínez', 'Pérez'])}"
            self.universe.buyers.append(
                {
                    "siglas": siglas,
                    "dependencia": name,
                    "ramo": ramo,
                    "units": units,
                    "weight": weight,
                    "responsable": responsable,
                }
            )

    def make_suppliers(self) -> None:
        rng = self.rng
        seen: set[str] = set()
        while len(self.universe.suppliers) < self.config.suppliers:
            legal_form = rng.choice(catalog.LEGAL_FORMS)
            base = f"{rng.choice(catalog.NAME_WORDS_A)} {rng.choice(catalog.NAME_WORDS_B)}"
            if rng.random() < 0.5:
                base += f" {rng.choice(catalog.NAME_WORDS_B)}"
            name = f"{base} {legal_form}"
            if name in seen:
                continue
            seen.add(name)
            founded = self.config.start - dt.timedelta(days=rng.randint(400, 9000))
            markets = rng.sample(range(len(catalog.CUCOP)), k=rng.randint(1, 3))
            self.universe.suppliers.append(
                {
                    "supplier_id": f"S{len(self.universe.suppliers):05d}",
                    "rfc": _rfc(rng, base, founded),
                    "name": name,
                    "legal_form": legal_form,
                    "founded": founded.isoformat(),
                    "stratum": _weighted(rng, catalog.STRATA),
                    "country": "MX" if rng.random() < 0.96 else rng.choice(["US", "ES", "CN", "DE"]),
                    "rupc": str(rng.randint(10000, 99999)),
                    "markets": markets,
                    "variants": [],
                }
            )

    def supplier_view(self, supplier: dict[str, Any]) -> dict[str, Any]:
        """How one record names a supplier: sometimes another spelling, sometimes no RFC."""
        rng = self.rng
        name = supplier["name"]
        if rng.random() < self.config.name_variant_rate:
            name = _name_variant(rng, name, supplier["legal_form"])
            if name not in supplier["variants"]:
                supplier["variants"].append(name)
        rfc = None if rng.random() < self.config.missing_rfc_rate else supplier["rfc"]
        return {
            "rfc": rfc,
            "proveedor": name,
            "folio_rupc": supplier["rupc"],
            "estratificacion": supplier["stratum"],
            "pais": supplier["country"],
        }

    # -- procedures -------------------------------------------------------------------------------------------
    def moment(self, day: dt.date, hour_low: int = 9, hour_high: int = 18) -> dt.datetime:
        minute = self.rng.randint(hour_low * 60, hour_high * 60)
        return dt.datetime.combine(day, dt.time(minute // 60, minute % 60), tzinfo=MEXICO_CITY)

    def plant(self, pattern: str, procedure: str, buyer: str, supplier: str | None, **detail: Any) -> None:
        self.universe.ground_truth.append(
            {"pattern": pattern, "numero_procedimiento": procedure, "buyer": buyer, "supplier": supplier, **detail}
        )

    def procedure(self) -> None:
        rng, config = self.rng, self.config
        buyer = rng.choices(self.universe.buyers, weights=[b["weight"] for b in self.universe.buyers])[0]
        unit = rng.choice(buyer["units"])
        method = _weighted(rng, list(catalog.METHOD_SHARES.items()))
        cucop, description, contracting_type = rng.choice(catalog.CUCOP)
        character = _weighted(rng, catalog.CHARACTERS) if method in ("open", "invitation") else "Nacional"
        law = "O" if contracting_type in ("Obra Pública", "Servicios Relacionados con la OP") else "A"
        raw_type, letter = catalog.PROCEDURE_TYPES[method]
        span = (config.end - config.start).days
        published = self.moment(config.start + dt.timedelta(days=rng.randint(0, span)))
        year = published.year
        key = f"{letter}{law}-{unit['clave_uc']}-{character[0]}-{year}"
        self.procedure_counter[key] = self.procedure_counter.get(key, 0) + 1
        numero = f"{letter}{law}-{unit['clave_uc']}-{character[0]}{self.procedure_counter[key]}-{year}"
        self.expediente += 1
        expediente = str(self.expediente)

        # Amounts (MXN): direct awards average ~1.5m, public tenders ~12.7m (REFERENCE §7).
        mean = {"open": 12.7e6, "invitation": 2.5e6, "direct": 1.4e6, "other": 1.5e6}[method]
        estimate = round(rng.lognormvariate(0, 1.0) * mean / 1.6487, 2)  # E[lognormal(0,1)] = e^0.5

        common = {
            "numero_procedimiento": numero,
            "codigo_expediente": expediente,
            "siglas": buyer["siglas"],
            "dependencia": buyer["dependencia"],
            "clave_uc": unit["clave_uc"],
            "nombre_uc": unit["nombre_uc"],
            "tipo_procedimiento": raw_type,
        }
        competitive = method in ("open", "invitation")
        if competitive and rng.random() < config.planning_rate:
            planned = published - dt.timedelta(days=rng.randint(30, 120))
            self.universe.records["planning"].append(
                {
                    "id": f"PA-{expediente}",
                    **common,
                    "ramo": buyer["ramo"],
                    "ejercicio": year,
                    "clave_cucop": cucop,
                    "descripcion": description,
                    "monto_estimado": round(estimate * rng.uniform(0.95, 1.2), 2),
                    "moneda": "MXN",
                    "clave_programa": f"E{rng.randint(1, 99):03d}",
                    "actualizado": _stamp(planned),
                }
            )

        # Tender period.
        planted: list[str] = []
        if method == "open":
            minimum = 15 if character == "Nacional" else 20
            days = rng.randint(minimum, minimum + 15)
            if rng.random() < config.short_submission_rate:
                days = rng.randint(3, 9)
                planted.append("short_submission")
                self.plant("short_submission", numero, buyer["siglas"], None, days=days)
        elif method == "invitation":
            days = rng.randint(7, 15)
        else:
            days = 0
        opening = self.moment((published + dt.timedelta(days=days)).date(), 9, 13) if days else None
        title = f"{description.upper()} PARA {buyer['siglas']}"
        quantity = rng.randint(1, 500)
        self.universe.records["tenders"].append(
            {
                "id": expediente,
                **common,
                "orden_gobierno": "APF",
                "ramo": buyer["ramo"],
                "responsable": buyer["responsable"],
                "titulo_expediente": title,
                "plantilla_expediente": f"{TEMPLATE_NUMBERS[method]}. {raw_type} {character} "
                + ("LOPSRM" if law == "O" else "LAASSP"),
                "caracter": character,
                "tipo_contratacion": contracting_type,
                "forma_procedimiento": _weighted(rng, catalog.FORMS) if competitive else "",
                "fecha_publicacion": _stamp(published),
                "fecha_apertura": _stamp(opening) if opening else None,
                "monto_estimado": estimate if competitive else None,
                "moneda": "MXN",
                "partidas": [
                    {
                        "partida": 1,
                        "clave_cucop": cucop,
                        "descripcion": description,
                        "cantidad": quantity,
                        "unidad": "Pieza" if contracting_type == "Adquisiciones" else "Servicio",
                    }
                ],
                "anuncio": f"https://compranet.hacienda.gob.mx/esop/guest/go/opportunity/detail?opportunityId={expediente}",
                "actualizado": _stamp(published),
            }
        )

        # Suppliers that work in this market.
        market = catalog.CUCOP.index((cucop, description, contracting_type))
        pool = [s for s in self.universe.suppliers if market in s["markets"]] or self.universe.suppliers

        if competitive:
            winner, award_amount, decision_from = self.bids(
                method, numero, expediente, common, pool, estimate, opening, planted, buyer
            )
        else:
            winner = rng.choice(pool)
            award_amount = estimate
            decision_from = published
        assert decision_from is not None
        awarded = self.moment(
            (decision_from + dt.timedelta(days=rng.randint(3, 20) if competitive else rng.randint(0, 3))).date()
        )
        self.contract(numero, common, winner, award_amount, awarded, buyer, cucop)

    def bids(
        self,
        method: str,
        numero: str,
        expediente: str,
        common: dict[str, Any],
        pool: list[dict[str, Any]],
        estimate: float,
        opening: dt.datetime | None,
        planted: list[str],
        buyer: dict[str, Any],
    ) -> tuple[dict[str, Any], float, dt.datetime | None]:
        rng = self.rng
        if method == "open" and rng.random() < self.config.single_bid_rate:
            count = 1
        else:
            # About a quarter of contests have three or fewer participants (IMCO IRC 2023).
            count = _weighted(rng, [(2, 0.10), (3, 0.15), (4, 0.22), (5, 0.20), (6, 0.15), (7, 0.10), (8, 0.08)])
        bidders = rng.sample(pool, k=min(count, len(pool)))
        if len(bidders) < count:  # a tiny market: fill from everyone
            others = [s for s in self.universe.suppliers if s not in bidders]
            bidders += rng.sample(others, k=count - len(bidders))
        offers = []
        for index, supplier in enumerate(bidders, start=1):
            amount = round(estimate * rng.uniform(0.82, 1.08), 2)
            disqualified = len(bidders) > 1 and index > 1 and rng.random() < 0.12
            offers.append((supplier, amount, "desechada" if disqualified else "valida", index))
        valid = [offer for offer in offers if offer[2] == "valida"]
        winner, amount = min(valid, key=lambda offer: offer[1])[:2]
        assert opening is not None
        if count == 1:
            # "updated" is when the bids stage is published: the interval whose run can see the single bid.
            self.plant("single_bid", numero, buyer["siglas"], winner["rfc"], updated=_stamp(opening))
        for supplier, bid_amount, status, index in offers:
            submitted = opening - dt.timedelta(minutes=rng.randint(30, 60 * 72))
            self.universe.records["bids"].append(
                {
                    "id": f"{expediente}-P{index}",
                    **common,
                    **self.supplier_view(supplier),
                    "fecha_presentacion": _stamp(submitted),
                    "monto": bid_amount,
                    "moneda": "MXN",
                    "estatus": status,
                    "actualizado": _stamp(opening),
                }
            )
        return winner, amount, opening

    def contract(
        self,
        numero: str,
        common: dict[str, Any],
        supplier: dict[str, Any],
        amount: float,
        awarded: dt.datetime,
        buyer: dict[str, Any],
        cucop: str,
    ) -> None:
        rng, config = self.rng, self.config
        self.contract_code += 1
        code = str(self.contract_code)
        view = self.supplier_view(supplier)
        self.universe.records["awards"].append(
            {
                "id": f"F-{code}",
                **common,
                "codigo_contrato": code,
                "fecha_fallo": _stamp(awarded),
                **view,
                "monto": amount,
                "moneda": "MXN",
                "clave_cucop": cucop,
                "actualizado": _stamp(awarded),
            }
        )
        signed = self.moment((awarded + dt.timedelta(days=rng.randint(0, 12))).date())
        start = signed.date() + dt.timedelta(days=rng.randint(0, 7))
        end = start + dt.timedelta(days=rng.randint(30, 365))
        self.universe.records["contracts"].append(
            {
                "id": code,
                **common,
                "codigo_contrato": code,
                "titulo_contrato": f"CONTRATO {code} {common['siglas']}",
                "fecha_celebracion": _stamp(signed),
                "fecha_inicio": start.isoformat(),
                "fecha_fin": end.isoformat(),
                "importe": amount,
                "moneda": "MXN",
                "estatus": "Activo",
                **view,
                "actualizado": _stamp(signed),
            }
        )

        value, finish = amount, end
        kinds = []
        if rng.random() < config.amendment_increase_rate:
            kinds.append("amendment_increase")
        if rng.random() < config.amendment_extension_rate:
            kinds.append("amendment_extension")
        if not kinds and rng.random() < config.benign_amendment_rate:
            kinds.append("benign")
        duration = (end - start).days
        for sequence, kind in enumerate(kinds, start=1):
            new_value, new_finish = value, finish
            if kind == "amendment_increase":
                new_value = round(value * rng.uniform(1.25, 1.8), 2)
            elif kind == "amendment_extension":
                new_finish = finish + dt.timedelta(days=max(1, int(duration * rng.uniform(0.4, 1.5))))
            else:
                new_value = round(value * rng.uniform(1.0, 1.08), 2)
            when = self.moment(start + dt.timedelta(days=rng.randint(1, max(1, duration - 1))))
            if kind != "benign":
                self.plant(
                    kind,
                    numero,
                    buyer["siglas"],
                    supplier["rfc"],
                    contract=code,
                    before=[value, finish.isoformat()],
                    after=[new_value, new_finish.isoformat()],
                )
            self.universe.records["amendments"].append(
                {
                    "id": f"CM-{code}-{sequence}",
                    **common,
                    "codigo_contrato": code,
                    "numero_convenio": sequence,
                    "fecha_firma": _stamp(when),
                    "importe_anterior": value,
                    "importe_nuevo": new_value,
                    "fecha_fin_anterior": finish.isoformat(),
                    "fecha_fin_nueva": new_finish.isoformat(),
                    "motivo": {
                        "amendment_increase": "Ampliación del monto por requerimientos adicionales",
                        "amendment_extension": "Ampliación del plazo de ejecución",
                        "benign": "Ajuste de cantidades",
                    }[kind],
                    "actualizado": _stamp(when),
                }
            )
            value, finish = new_value, new_finish

        paid = 0.0
        payments = rng.randint(1, 4)
        for index in range(1, payments + 1):
            share = value * rng.uniform(0.6, 0.95) / payments
            day = start + dt.timedelta(days=int((finish - start).days * index / (payments + 1)))
            when = self.moment(day)
            paid += share
            self.universe.records["payments"].append(
                {
                    "id": f"PG-{code}-{index}",
                    **common,
                    "codigo_contrato": code,
                    "fecha_pago": _stamp(when),
                    "monto": round(share, 2),
                    "moneda": "MXN",
                    "rfc": supplier["rfc"],
                    "proveedor": supplier["name"],
                    "actualizado": _stamp(when),
                }
            )


def simulate(config: SimulationConfig | None = None) -> Universe:
    """Generate a universe; the same config always gives the same records."""
    builder = _Builder(config or SimulationConfig())
    builder.make_buyers()
    builder.make_suppliers()
    for _ in range(builder.config.procedures):
        builder.procedure()
    for rows in builder.universe.records.values():
        rows.sort(key=lambda row: (row["actualizado"], row["id"]))
    return builder.universe
