"""A deterministic CompraNet-like universe: buyers, suppliers, every stage of every procedure, planted risk patterns.

The simulator is the embedded default source for the demo and the tests. Shares are calibrated to published
Mexican figures (REFERENCE §7): ~79% direct awards by count but ~40% of value, ~11% public tenders, ~6%
invitations. Risk patterns (REFERENCE §6.1–§6.2) are planted at configurable rates and written to a ground-truth
list, so indicators can be scored for precision and recall. Unplanted data is kept clear of the patterns where that
is easy: single bids, late winning bids, bids within 1% of each other, identical bids, a disqualified lowest bid, firms
younger than a year and direct awards just below the threshold occur only where they were planted.

Stage records use CompraNet's Spanish vocabulary (``numero_procedimiento``, ``codigo_expediente`` …) and carry an
``actualizado`` timestamp (RFC 3339, Mexico City offset) that the stage API filters on.

Ground-truth rows carry ``pattern``, ``numero_procedimiento``, ``buyer`` (siglas), ``supplier`` (the true RFC, even
where the records omit it), ``updated`` (the ``actualizado`` of the stage record that makes the pattern visible) and
pattern details. Process-level patterns have one row per procedure; group patterns (``split_purchase``,
``bid_rotation``) have one row per member procedure sharing a ``group`` id. ``supplier_concentration`` is a buyer-level
pattern: one row per favouring buyer, with ``numero_procedimiento`` None and the procedures listed in ``procedures``.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, TypeVar

from transforms.intervals import MEXICO_CITY
from transforms.sources import catalog

STAGES = ("planning", "tenders", "bids", "awards", "contracts", "amendments", "payments")
TEMPLATE_NUMBERS = {"open": "01", "invitation": "04", "direct": "07", "other": "08"}
PATTERNS = (
    "single_bid",
    "short_submission",
    "amendment_increase",
    "amendment_extension",
    "split_purchase",
    "supplier_concentration",
    "identical_bids",
    "bid_rotation",
    "late_winning_bid",
    "lowest_bid_disqualified",
    "new_supplier_large_award",
    "close_bids",
)
# Patterns planted on the bids of one competitive procedure; at most one of them per procedure.
BID_PATTERNS = ("single_bid", "identical_bids", "close_bids", "late_winning_bid", "lowest_bid_disqualified")
PROGRESS_EVERY = 50_000  # procedures between progress lines
T = TypeVar("T")
log = logging.getLogger(__name__)


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
    identical_bids_rate: float = 0.02  # of competitive procedures (open tenders and invitations)
    close_bids_rate: float = 0.02  # of competitive procedures
    late_winning_bid_rate: float = 0.02  # of competitive procedures
    lowest_bid_disqualified_rate: float = 0.02  # of competitive procedures
    split_purchase_rate: float = 0.01  # of direct-award draws; each starts a group of 2–3 split direct awards
    bid_rotation_rate: float = 0.01  # of open-tender draws; each starts a ring winning two rounds of 3–4 tenders
    new_supplier_large_award_rate: float = 0.005  # of procedures
    supplier_concentration_rate: float = 0.1  # of institutions (at least one when > 0), among the larger half
    concentration_share: float = 0.7  # of a favouring institution's procedures its favourite wins (≥ 40% of spend)
    benign_amendment_rate: float = 0.03  # small amendments that are not a risk pattern
    name_variant_rate: float = 0.25  # records that spell the supplier's name differently
    missing_rfc_rate: float = 0.10  # records without the supplier's RFC (planted records always show it)
    planning_rate: float = 0.7  # competitive procedures with an annual-programme entry

    def __post_init__(self) -> None:
        rates = {name: value for name, value in asdict(self).items() if name.endswith(("_rate", "_share"))}
        wrong = sorted(name for name, value in rates.items() if not 0.0 <= value <= 1.0)
        if wrong:
            raise ValueError(f"rates must lie between 0 and 1: {', '.join(wrong)}")
        # The bid patterns of one procedure exclude each other, so their rates share one draw.
        if sum(rates[f"{name}_rate"] for name in BID_PATTERNS) > 1.0:
            raise ValueError(f"the rates of {', '.join(BID_PATTERNS)} add up to more than 1")

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable copy."""
        data = asdict(self)
        data["start"] = self.start.isoformat()
        data["end"] = self.end.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimulationConfig:
        """Rebuild a config from :meth:`to_dict`'s output."""
        return cls(
            **{**data, "start": dt.date.fromisoformat(data["start"]), "end": dt.date.fromisoformat(data["end"])}
        )


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


def spread(amounts: Sequence[float]) -> float:
    """Return how far the highest amount lies above the lowest, as a share of the lowest."""
    low = min(amounts)
    return (max(amounts) - low) / low if low else float("inf")


@dataclass
class _Offer:
    supplier: dict[str, Any]
    amount: float
    status: str = "valida"


@dataclass
class _Outcome:
    """What one procedure produced, for the ground truth of group patterns."""

    numero: str
    code: str
    amount: float
    awarded: dt.datetime
    award_stamp: str


class RecordSink(Protocol):
    """Where the generator puts what it makes: stage records and ground-truth rows, in generation order."""

    def record(self, stage: str, row: dict[str, Any]) -> None:
        """Take one stage record."""

    def truth(self, row: dict[str, Any]) -> None:
        """Take one ground-truth row."""


class _MemorySink:
    def __init__(self, universe: Universe) -> None:
        self.universe = universe

    def record(self, stage: str, row: dict[str, Any]) -> None:
        self.universe.records[stage].append(row)

    def truth(self, row: dict[str, Any]) -> None:
        self.universe.ground_truth.append(row)


class _Builder:
    def __init__(self, config: SimulationConfig, sink: RecordSink) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.sink = sink
        self.buyers: list[dict[str, Any]] = []
        self.suppliers: list[dict[str, Any]] = []
        self.expediente = 1_000_000
        self.contract_code = 2_000_000
        self.procedure_counter: dict[str, int] = {}
        self.names: set[str] = set()
        self.established: list[dict[str, Any]] = []
        self.pools: list[list[dict[str, Any]]] = []
        self.buyer_weights: list[float] = []
        self.favourites: dict[str, dict[str, Any]] = {}
        self.favoured: dict[str, list[_Outcome]] = {}
        self.spend: dict[str, float] = {}
        self.groups = 0

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
            self.buyers.append(
                {
                    "siglas": siglas,
                    "dependencia": name,
                    "ramo": ramo,
                    "units": units,
                    "weight": weight,
                    "responsable": responsable,
                }
            )
        total = 0.0
        for buyer in self.buyers:
            total += buyer["weight"]
            self.buyer_weights.append(total)

    def _supplier(self, founded: dt.date, markets: list[int]) -> dict[str, Any]:
        rng = self.rng
        while True:
            legal_form = rng.choice(catalog.LEGAL_FORMS)
            base = f"{rng.choice(catalog.NAME_WORDS_A)} {rng.choice(catalog.NAME_WORDS_B)}"
            if rng.random() < 0.5:
                base += f" {rng.choice(catalog.NAME_WORDS_B)}"
            name = f"{base} {legal_form}"
            if name not in self.names:
                break
        self.names.add(name)
        supplier = {
            "supplier_id": f"S{len(self.suppliers):05d}",
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
        self.suppliers.append(supplier)
        return supplier

    def make_suppliers(self) -> None:
        rng = self.rng
        while len(self.suppliers) < self.config.suppliers:
            # Every unplanted firm is older than a year when it first wins (new_supplier_large_award stays planted).
            founded = self.config.start - dt.timedelta(days=rng.randint(400, 9000))
            markets = rng.sample(range(len(catalog.CUCOP)), k=rng.randint(1, 3))
            self._supplier(founded, markets)
        self.established = list(self.suppliers)
        self.pools = [
            [s for s in self.established if market in s["markets"]] or self.established
            for market in range(len(catalog.CUCOP))
        ]

    def choose_favourites(self) -> None:
        """Pick the institutions where one supplier wins a large share of the spend (supplier_concentration)."""
        rate = self.config.supplier_concentration_rate
        if not rate:
            return
        buyers = self.buyers
        count = min(len(buyers), max(1, round(rate * len(buyers))))
        # Among the larger half: a share of a handful of contracts says little, and a small buyer's spend is
        # dominated by chance anyway.
        larger = sorted(buyers, key=lambda b: -b["weight"])[: max(count, len(buyers) // 2)]
        for buyer in self.rng.sample(larger, k=count):
            self.favourites[buyer["siglas"]] = self.rng.choice(self.established)
            self.favoured[buyer["siglas"]] = []

    def supplier_view(self, supplier: dict[str, Any], keep_rfc: bool = False) -> dict[str, Any]:
        """How one record names a supplier: sometimes another spelling, sometimes no RFC (never when planted)."""
        rng = self.rng
        name = supplier["name"]
        if rng.random() < self.config.name_variant_rate:
            name = _name_variant(rng, name, supplier["legal_form"])
            if name not in supplier["variants"]:
                supplier["variants"].append(name)
        missing = rng.random() < self.config.missing_rfc_rate
        return {
            "rfc": None if missing and not keep_rfc else supplier["rfc"],
            "proveedor": name,
            "folio_rupc": supplier["rupc"],
            "estratificacion": supplier["stratum"],
            "pais": supplier["country"],
        }

    # -- procedures -------------------------------------------------------------------------------------------
    def moment(self, day: dt.date, hour_low: int = 9, hour_high: int = 18) -> dt.datetime:
        minute = self.rng.randint(hour_low * 60, hour_high * 60)
        return dt.datetime.combine(day, dt.time(minute // 60, minute % 60), tzinfo=MEXICO_CITY)

    def publication(self) -> dt.datetime:
        span = (self.config.end - self.config.start).days
        return self.moment(self.config.start + dt.timedelta(days=self.rng.randint(0, span)))

    def plant(self, pattern: str, procedure: str | None, buyer: str, supplier: str | None, **detail: Any) -> None:
        self.sink.truth(
            {"pattern": pattern, "numero_procedimiento": procedure, "buyer": buyer, "supplier": supplier, **detail}
        )

    def draw(self, remaining: int) -> int:
        """Generate the next procedure, or a planted group of procedures; return how many were generated."""
        rng, config = self.rng, self.config
        buyer = rng.choices(self.buyers, cum_weights=self.buyer_weights)[0]
        unit = rng.choice(buyer["units"])
        method = _weighted(rng, list(catalog.METHOD_SHARES.items()))
        market = rng.randrange(len(catalog.CUCOP))
        if method == "direct" and remaining >= 2 and rng.random() < config.split_purchase_rate:
            return self.split_purchase(buyer, unit, market, remaining)
        if method == "open" and remaining >= 8 and rng.random() < config.bid_rotation_rate:
            return self.bid_rotation(buyer, unit, market)
        self.procedure(buyer, unit, method, market, self.publication())
        return 1

    def split_purchase(self, buyer: dict[str, Any], unit: dict[str, Any], market: int, remaining: int) -> int:
        """Plant 2–3 direct awards of one class to one supplier, close in time, each just below the threshold."""
        rng, config = self.rng, self.config
        self.groups += 1
        group = f"G{self.groups:05d}"
        count = min(rng.randint(2, 3), remaining)
        supplier = rng.choice(self.pools[market])
        span = (config.end - config.start).days
        window = min(catalog.SPLIT_WINDOW_DAYS, span)
        first = config.start + dt.timedelta(days=rng.randint(0, span - window))
        outcomes: list[tuple[_Outcome, float]] = []
        for _ in range(count):
            published = self.moment(first + dt.timedelta(days=rng.randint(0, window)))
            threshold = catalog.direct_award_threshold(published.year)
            estimate = round(threshold * (1 - rng.uniform(*catalog.SPLIT_DISTANCE)), 2)
            outcome = self.procedure(
                buyer, unit, "direct", market, published, estimate=estimate, winner=supplier, planted=True
            )
            outcomes.append((outcome, threshold))
        numbers = [outcome.numero for outcome, _ in outcomes]
        for outcome, threshold in outcomes:
            self.plant(
                "split_purchase",
                outcome.numero,
                buyer["siglas"],
                supplier["rfc"],
                updated=outcome.award_stamp,
                group=group,
                procedures=numbers,
                clave_cucop=catalog.CUCOP[market][0],
                amount=outcome.amount,
                threshold=threshold,
            )
        return count

    def bid_rotation(self, buyer: dict[str, Any], unit: dict[str, Any], market: int) -> int:
        """Plant a ring of 3–4 suppliers that take turns winning one buyer's open tenders in one market."""
        rng = self.rng
        self.groups += 1
        group = f"G{self.groups:05d}"
        pool = self.pools[market]
        size = rng.randint(3, 4)
        ring = rng.sample(pool, k=min(size, len(pool)))
        if len(ring) < size:  # a tiny market: fill from everyone
            ring += rng.sample([s for s in self.established if s not in ring], k=size - len(ring))
        dates = sorted(self.publication() for _ in range(2 * size))
        members = [s["rfc"] for s in ring]
        for turn, published in enumerate(dates):
            winner = ring[turn % size]
            outcome = self.procedure(buyer, unit, "open", market, published, winner=winner, ring=ring, planted=True)
            self.plant(
                "bid_rotation",
                outcome.numero,
                buyer["siglas"],
                winner["rfc"],
                updated=outcome.award_stamp,
                group=group,
                members=members,
                turn=turn,
                clave_cucop=catalog.CUCOP[market][0],
            )
        return len(dates)

    def procedure(
        self,
        buyer: dict[str, Any],
        unit: dict[str, Any],
        method: str,
        market: int,
        published: dt.datetime,
        *,
        estimate: float | None = None,
        winner: dict[str, Any] | None = None,
        ring: list[dict[str, Any]] | None = None,
        planted: bool = False,
    ) -> _Outcome:
        rng, config = self.rng, self.config
        cucop, description, contracting_type = catalog.CUCOP[market]
        character = _weighted(rng, catalog.CHARACTERS) if method in ("open", "invitation") else "Nacional"
        law = "O" if contracting_type in ("Obra Pública", "Servicios Relacionados con la OP") else "A"
        raw_type, letter = catalog.PROCEDURE_TYPES[method]
        year = published.year
        key = f"{letter}{law}-{unit['clave_uc']}-{character[0]}-{year}"
        self.procedure_counter[key] = self.procedure_counter.get(key, 0) + 1
        numero = f"{letter}{law}-{unit['clave_uc']}-{character[0]}{self.procedure_counter[key]}-{year}"
        self.expediente += 1
        expediente = str(self.expediente)

        if estimate is None:
            estimate = self.estimate(method, year)
        newcomer = None
        if not planted and rng.random() < config.new_supplier_large_award_rate:
            founded = published.date() - dt.timedelta(days=rng.randint(*catalog.NEW_SUPPLIER_AGE_DAYS))
            newcomer = winner = self._supplier(founded, [market])  # not in any pool: it wins only this award
            # Bids go down to 0.82 of the estimate: 1.25 × the line keeps the winning bid above it.
            estimate = round(max(estimate, rng.uniform(1.25, 3.0) * catalog.LARGE_AWARD_AMOUNT), 2)
            planted = True
        favourite = self.favourites.get(buyer["siglas"])
        favoured = False
        if not planted and favourite is not None and rng.random() < config.concentration_share:
            winner, favoured, planted = favourite, True, True

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
            self.sink.record(
                "planning",
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
                },
            )

        # Tender period.
        if method == "open":
            minimum = 15 if character == "Nacional" else 20
            days = rng.randint(minimum, minimum + 15)
            if ring is None and rng.random() < config.short_submission_rate:
                days = rng.randint(3, 9)
                self.plant("short_submission", numero, buyer["siglas"], None, updated=_stamp(published), days=days)
        elif method == "invitation":
            days = rng.randint(7, 15)
        else:
            days = 0
        opening = self.moment((published + dt.timedelta(days=days)).date(), 9, 13) if days else None
        title = f"{description.upper()} PARA {buyer['siglas']}"
        quantity = rng.randint(1, 500)
        self.sink.record(
            "tenders",
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
            },
        )

        if competitive:
            assert opening is not None
            winner, award_amount, pattern = self.bids(
                method, numero, expediente, common, self.pools[market], estimate, opening, buyer, winner, ring, planted
            )
            planted = planted or pattern is not None
            decision_from = opening
        else:
            winner = winner or rng.choice(self.pools[market])
            award_amount = estimate
            decision_from = published
        awarded = self.moment(
            (decision_from + dt.timedelta(days=rng.randint(3, 20) if competitive else rng.randint(0, 3))).date()
        )
        outcome = self.contract(numero, common, winner, award_amount, awarded, buyer, cucop, planted)
        self.spend[buyer["siglas"]] = self.spend.get(buyer["siglas"], 0.0) + award_amount
        if favoured:
            self.favoured[buyer["siglas"]].append(outcome)
        if newcomer is not None:
            founded_on = dt.date.fromisoformat(newcomer["founded"])
            self.plant(
                "new_supplier_large_award",
                numero,
                buyer["siglas"],
                newcomer["rfc"],
                updated=outcome.award_stamp,
                founded=newcomer["founded"],
                awarded=awarded.date().isoformat(),
                age_days=(awarded.date() - founded_on).days,
                amount=award_amount,
            )
        return outcome

    def estimate(self, method: str, year: int) -> float:
        """Draw a procedure's amount (MXN): direct awards average ~1.5m, public tenders ~12.7m (REFERENCE §7)."""
        rng = self.rng
        mean = {"open": 12.7e6, "invitation": 2.5e6, "direct": 1.4e6, "other": 1.5e6}[method]
        threshold = catalog.direct_award_threshold(year)
        while True:
            estimate = round(rng.lognormvariate(0, 1.0) * mean / 1.6487, 2)  # E[lognormal(0,1)] = e^0.5
            # "Just below the direct-award threshold" is left to planted split purchases.
            if method != "direct" or not threshold * (1 - catalog.SPLIT_CLEARANCE) <= estimate < threshold:
                return estimate

    def bid_pattern(self, method: str) -> str | None:
        """Draw at most one bid pattern for a competitive procedure; single bids are planted on open tenders only."""
        config = self.config
        draw = self.rng.random()
        for name in BID_PATTERNS:
            rate = getattr(config, f"{name}_rate")
            if name == "single_bid" and method != "open":
                continue
            if draw < rate:
                return name
            draw -= rate
        return None

    def natural_amounts(self, estimate: float, count: int) -> list[float]:
        """Distinct bid amounts spread at least NATURAL_MIN_SPREAD apart, so close and identical bids stay planted."""
        while True:
            amounts = [round(estimate * self.rng.uniform(0.82, 1.08), 2) for _ in range(count)]
            if count == 1 or (len(set(amounts)) == count and spread(amounts) >= catalog.NATURAL_MIN_SPREAD):
                return amounts

    def bids(
        self,
        method: str,
        numero: str,
        expediente: str,
        common: dict[str, Any],
        pool: list[dict[str, Any]],
        estimate: float,
        opening: dt.datetime,
        buyer: dict[str, Any],
        forced: dict[str, Any] | None,
        ring: list[dict[str, Any]] | None,
        planted: bool,
    ) -> tuple[dict[str, Any], float, str | None]:
        """Write the bids of one competitive procedure; return the winner, its amount and the planted pattern."""
        rng = self.rng
        pattern = "bid_rotation" if ring is not None else self.bid_pattern(method)
        if ring is not None:
            bidders = list(ring)
        else:
            if pattern == "single_bid":
                count = 1
            else:
                # About a quarter of contests have three or fewer participants (IMCO IRC 2023).
                count = _weighted(rng, [(2, 0.10), (3, 0.15), (4, 0.22), (5, 0.20), (6, 0.15), (7, 0.10), (8, 0.08)])
                if pattern in ("identical_bids", "close_bids", "lowest_bid_disqualified"):
                    count = max(count, 3)  # the pattern needs bids beside the winner's
            bidders = rng.sample(pool, k=min(count, len(pool)))
            if len(bidders) < count:  # a tiny market: fill from everyone
                bidders += rng.sample([s for s in self.established if s not in bidders], k=count - len(bidders))
        if forced is not None:
            # The chosen winner bids first; an index-0 bid is never disqualified.
            bidders = [forced, *[s for s in bidders if s is not forced][: len(bidders) - 1]]

        if pattern == "close_bids":
            base = estimate * rng.uniform(0.85, 1.0)
            while True:
                amounts = [round(base * rng.uniform(1.0, 1.0 + 0.9 * catalog.CLOSE_BIDS_SPREAD), 2) for _ in bidders]
                if len(set(amounts)) == len(amounts):
                    break
        elif pattern == "bid_rotation":
            low = estimate * rng.uniform(0.88, 0.98)
            amounts = [round(low, 2)] + [round(low * rng.uniform(1.03, 1.12), 2) for _ in bidders[1:]]
            while len(set(amounts)) < len(amounts):
                amounts[1:] = [round(low * rng.uniform(1.03, 1.12), 2) for _ in bidders[1:]]
        else:
            amounts = self.natural_amounts(estimate, len(bidders))
        offers = [_Offer(supplier, amount) for supplier, amount in zip(bidders, amounts, strict=True)]
        if pattern is None:  # unplanted disqualifications; the first bidder (a chosen winner) always stays valid
            for offer in offers[1:]:
                if rng.random() < 0.12:
                    offer.status = "desechada"

        # The winner holds the lowest amount: the chosen one by a swap, otherwise the lowest valid bid, swapped
        # with any lower disqualified bid so that a disqualified lowest bid stays planted.
        lowest = min(offers, key=lambda o: o.amount)
        winning = (
            offers[0]
            if forced is not None or ring is not None
            else min((o for o in offers if o.status == "valida"), key=lambda o: o.amount)
        )
        winning.amount, lowest.amount = lowest.amount, winning.amount
        winner = winning.supplier

        submitted = {id(offer): opening - dt.timedelta(minutes=rng.randint(30, 60 * 72)) for offer in offers}
        details: dict[str, Any] = {}
        others = [offer for offer in offers if offer is not winning]
        if pattern == "identical_bids":
            first, second = rng.sample(others, k=2)
            # Both take the higher amount, so the lowest and highest bids (and the spread) do not change.
            first.amount = second.amount = max(first.amount, second.amount)
            details = {"tenderers": [first.supplier["rfc"], second.supplier["rfc"]], "amount": first.amount}
        elif pattern == "lowest_bid_disqualified":
            loser = rng.choice(others)
            loser.amount = round(winning.amount * rng.uniform(0.90, 0.98), 2)
            loser.status = "desechada"
            details = {"disqualified": loser.supplier["rfc"], "lowest": loser.amount, "winning": winning.amount}
        elif pattern == "late_winning_bid":
            late = opening + dt.timedelta(minutes=rng.randint(5, 180))
            submitted[id(winning)] = late
            details = {"submitted": _stamp(late), "opening": _stamp(opening)}
        elif pattern == "close_bids":
            details = {"spread": round(spread([o.amount for o in offers]), 6), "bids": len(offers)}

        # The bids stage is published at the opening, or when the last (late) bid came in.
        updated = _stamp(max(opening, *submitted.values()))
        keep_rfc = planted or pattern is not None
        rng.shuffle(offers)  # a chosen winner was put first: the bid numbers must not tell
        for index, offer in enumerate(offers, start=1):
            self.sink.record(
                "bids",
                {
                    "id": f"{expediente}-P{index}",
                    **common,
                    **self.supplier_view(offer.supplier, keep_rfc),
                    "fecha_presentacion": _stamp(submitted[id(offer)]),
                    "monto": offer.amount,
                    "moneda": "MXN",
                    "estatus": offer.status,
                    "actualizado": updated,
                },
            )
        if pattern is not None and pattern != "bid_rotation":
            # "updated" is when the bids stage is published: the interval whose run can see the pattern.
            self.plant(pattern, numero, buyer["siglas"], winner["rfc"], updated=updated, **details)
        return winner, winning.amount, pattern

    def contract(
        self,
        numero: str,
        common: dict[str, Any],
        supplier: dict[str, Any],
        amount: float,
        awarded: dt.datetime,
        buyer: dict[str, Any],
        cucop: str,
        planted: bool,
    ) -> _Outcome:
        rng, config = self.rng, self.config
        self.contract_code += 1
        code = str(self.contract_code)
        view = self.supplier_view(supplier, keep_rfc=planted)
        award_stamp = _stamp(awarded)
        self.sink.record(
            "awards",
            {
                "id": f"F-{code}",
                **common,
                "codigo_contrato": code,
                "fecha_fallo": award_stamp,
                **view,
                "monto": amount,
                "moneda": "MXN",
                "clave_cucop": cucop,
                "actualizado": award_stamp,
            },
        )
        signed = self.moment((awarded + dt.timedelta(days=rng.randint(0, 12))).date())
        start = signed.date() + dt.timedelta(days=rng.randint(0, 7))
        end = start + dt.timedelta(days=rng.randint(30, 365))
        self.sink.record(
            "contracts",
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
            },
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
                    updated=_stamp(when),
                )
            self.sink.record(
                "amendments",
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
                },
            )
            value, finish = new_value, new_finish

        paid = 0.0
        payments = rng.randint(1, 4)
        for index in range(1, payments + 1):
            share = value * rng.uniform(0.6, 0.95) / payments
            day = start + dt.timedelta(days=int((finish - start).days * index / (payments + 1)))
            when = self.moment(day)
            paid += share
            self.sink.record(
                "payments",
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
                },
            )
        return _Outcome(numero, code, amount, awarded, award_stamp)

    def plant_concentration(self) -> None:
        """Write one ground-truth row per favouring institution, with the share of its spend the favourite won."""
        for siglas, outcomes in self.favoured.items():
            if not outcomes:
                continue
            won = sum(outcome.amount for outcome in outcomes)
            self.plant(
                "supplier_concentration",
                None,
                siglas,
                self.favourites[siglas]["rfc"],
                updated=max(outcome.award_stamp for outcome in outcomes),
                share=round(won / self.spend[siglas], 6),
                amount=round(won, 2),
                procedures=[outcome.numero for outcome in outcomes],
            )


def generate(config: SimulationConfig, sink: RecordSink) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Generate every procedure into ``sink``, unsorted; return the buyers and suppliers.

    The memory held across procedures is small and does not grow with the records: entities, procedure counters,
    the favourites' outcomes (for the concentration row written last) and the spend per buyer.
    """
    builder = _Builder(config, sink)
    builder.make_buyers()
    builder.make_suppliers()
    builder.choose_favourites()
    remaining = config.procedures
    started, reported = time.perf_counter(), 0
    while remaining > 0:
        remaining -= builder.draw(remaining)
        done = config.procedures - remaining
        if done - reported >= PROGRESS_EVERY:
            reported = done
            rate = done / max(time.perf_counter() - started, 1e-9)
            log.info("simulated %s of %s procedures (%.0f a second)", f"{done:,}", f"{config.procedures:,}", rate)
    builder.plant_concentration()
    return builder.buyers, builder.suppliers


def record_key(row: dict[str, Any]) -> tuple[str, str]:
    """The order of a stage's records in a universe: by ``actualizado``, then id."""
    return row["actualizado"], row["id"]


def simulate(config: SimulationConfig | None = None) -> Universe:
    """Generate a universe in memory; the same config always gives the same records.

    For large universes use :func:`transforms.sources.universe_files.write_universe`, which writes the same
    records to disk in bounded memory.
    """
    universe = Universe(config or SimulationConfig())
    universe.buyers, universe.suppliers = generate(universe.config, _MemorySink(universe))
    for rows in universe.records.values():
        rows.sort(key=record_key)
    return universe
