"""Reference vocabularies for the simulator: institutions, CUCOP classes, procedure types (REFERENCE §1.6, §7)."""

from __future__ import annotations

# (siglas, institution, ramo) — real federal institutions, used only as realistic labels.
INSTITUTIONS: list[tuple[str, str, str]] = [
    ("IMSS", "Instituto Mexicano del Seguro Social", "50"),
    ("ISSSTE", "Instituto de Seguridad y Servicios Sociales de los Trabajadores del Estado", "51"),
    ("SEP", "Secretaría de Educación Pública", "11"),
    ("SSA", "Secretaría de Salud", "12"),
    ("SEDENA", "Secretaría de la Defensa Nacional", "07"),
    ("SEMAR", "Secretaría de Marina", "13"),
    ("SICT", "Secretaría de Infraestructura, Comunicaciones y Transportes", "09"),
    ("CONAGUA", "Comisión Nacional del Agua", "16"),
    ("SADER", "Secretaría de Agricultura y Desarrollo Rural", "08"),
    ("SHCP", "Secretaría de Hacienda y Crédito Público", "06"),
    ("SRE", "Secretaría de Relaciones Exteriores", "05"),
    ("SEGOB", "Secretaría de Gobernación", "04"),
    ("SE", "Secretaría de Economía", "10"),
    ("SEMARNAT", "Secretaría de Medio Ambiente y Recursos Naturales", "16"),
    ("SENER", "Secretaría de Energía", "18"),
    ("STPS", "Secretaría del Trabajo y Previsión Social", "14"),
    ("SFP", "Secretaría de la Función Pública", "27"),
    ("API-Veracruz", "Administración Portuaria Integral de Veracruz, S.A. de C.V.", "09"),
    ("CAPUFE", "Caminos y Puentes Federales de Ingresos y Servicios Conexos", "09"),
    ("INAH", "Instituto Nacional de Antropología e Historia", "48"),
    ("UNAM", "Universidad Nacional Autónoma de México", "11"),
    ("IPN", "Instituto Politécnico Nacional", "11"),
    ("INER", "Instituto Nacional de Enfermedades Respiratorias", "12"),
    ("BIENESTAR", "Secretaría de Bienestar", "20"),
]

UC_UNITS = [
    "Dirección de Administración",
    "Subdirección de Recursos Materiales",
    "Departamento de Adquisiciones",
    "Coordinación de Obra Pública",
    "Delegación Estatal",
    "Unidad de Servicios Generales",
]

# (CUCOP clave, description, contracting type) — CUCOP keys are strings; the first digits group markets.
CUCOP: list[tuple[str, str, str]] = [
    ("21100001", "Materiales y útiles de oficina", "Adquisiciones"),
    ("21400002", "Consumibles de equipo de cómputo", "Adquisiciones"),
    ("25300010", "Medicamentos", "Adquisiciones"),
    ("25400004", "Material de curación", "Adquisiciones"),
    ("25500003", "Reactivos de laboratorio", "Adquisiciones"),
    ("26100002", "Combustibles", "Adquisiciones"),
    ("22100001", "Productos alimenticios", "Adquisiciones"),
    ("27100001", "Vestuario y uniformes", "Adquisiciones"),
    ("51500002", "Equipo de cómputo", "Adquisiciones"),
    ("53100003", "Equipo médico", "Adquisiciones"),
    ("54100001", "Vehículos terrestres", "Adquisiciones"),
    ("31800001", "Servicio de mensajería", "Servicios"),
    ("33300004", "Servicios de consultoría", "Servicios"),
    ("33800001", "Servicios de vigilancia", "Servicios"),
    ("35800001", "Servicios de limpieza", "Servicios"),
    ("35100001", "Mantenimiento de inmuebles", "Servicios"),
    ("31700001", "Servicios de conectividad", "Servicios"),
    ("33400001", "Capacitación", "Servicios"),
    ("32200001", "Arrendamiento de edificios", "Arrendamientos"),
    ("32500001", "Arrendamiento de vehículos", "Arrendamientos"),
    ("62200001", "Construcción de edificios", "Obra Pública"),
    ("62400001", "Carreteras y puentes", "Obra Pública"),
    ("62300001", "Obras hidráulicas", "Obra Pública"),
    ("62900001", "Supervisión de obra", "Servicios Relacionados con la OP"),
    ("62900002", "Estudios y proyectos", "Servicios Relacionados con la OP"),
]

# Raw procedure types as published 2010–2017 (REFERENCE §1.6) with the template and the procedure-number letter.
PROCEDURE_TYPES = {
    "open": ("Licitación Pública", "L"),
    "invitation": ("Invitación a Cuando Menos 3 Personas", "I"),
    "direct": ("Adjudicación Directa Federal", "A"),
    "other": ("Otro", "P"),
}

# Shares by count (REFERENCE §7: 2020–2021 federal figures).
METHOD_SHARES = {"direct": 0.79, "open": 0.11, "invitation": 0.06, "other": 0.04}

CHARACTERS = [("Nacional", 0.86), ("Internacional abierta", 0.10), ("Internacional bajo TLC", 0.04)]
FORMS = [("Electrónica", 0.55), ("Mixta", 0.30), ("Presencial", 0.15)]
STRATA = [("Micro", 0.30), ("Pequeña", 0.30), ("Mediana", 0.20), ("No MIPYME", 0.20)]

NAME_WORDS_A = [
    "Grupo",
    "Comercializadora",
    "Constructora",
    "Servicios",
    "Distribuidora",
    "Consultores",
    "Tecnología",
    "Suministros",
    "Ingeniería",
    "Proveedora",
    "Corporativo",
    "Farmacéutica",
    "Logística",
    "Soluciones",
]
NAME_WORDS_B = [
    "Azteca",
    "del Valle",
    "Integral",
    "Norte",
    "Pacífico",
    "del Bajío",
    "Anáhuac",
    "Industrial",
    "Médica",
    "Occidente",
    "Golfo",
    "Sureste",
    "Moderna",
    "Central",
    "Peninsular",
    "Hidalguense",
    "Tapatía",
    "Global",
    "Alfa",
    "Omega",
    "Continental",
    "Mexicana",
    "Universal",
    "Progreso",
]
LEGAL_FORMS = ["S.A. de C.V.", "S. de R.L. de C.V.", "S.A.P.I. de C.V.", "S.C."]
# Spelling variants CompraNet shows for the same legal form.
LEGAL_FORM_VARIANTS = {
    "S.A. de C.V.": ["SA DE CV", "S.A. DE C.V.", "S. A. de C. V.", "SA de CV"],
    "S. de R.L. de C.V.": ["S DE RL DE CV", "S. DE R.L. DE C.V."],
    "S.A.P.I. de C.V.": ["SAPI DE CV", "S.A.P.I. DE C.V."],
    "S.C.": ["SC", "S. C."],
}

# -- planted risk patterns (REFERENCE §6.2) ----------------------------------------------------------------------
# PEF annual maximum amount (MXN, before VAT) up to which one LAASSP contract may be awarded directly (art. 42), for
# the largest budget band of the decree's annex. ILLUSTRATIVE AND UNCONFIRMED: these figures were not checked
# against each year's Presupuesto de Egresos de la Federación; they only give the simulator a plausible line to plant
# split purchases just under. Replace them with the decree's figures before scoring real data with them.
DIRECT_AWARD_THRESHOLDS: dict[int, float] = {
    2010: 420_000.0,
    2011: 435_000.0,
    2012: 450_000.0,
    2013: 465_000.0,
    2014: 480_000.0,
    2015: 495_000.0,
    2016: 510_000.0,
    2017: 530_000.0,
    2018: 550_000.0,
    2019: 570_000.0,
    2020: 590_000.0,
    2021: 610_000.0,
    2022: 640_000.0,
    2023: 670_000.0,
    2024: 700_000.0,
    2025: 730_000.0,
    2026: 760_000.0,
    2027: 790_000.0,
}
# Split purchases sit this far below the threshold (OCP R011/R049: "just below", e.g. within 1–2%).
SPLIT_DISTANCE = (0.005, 0.02)
# Unplanted direct awards never fall this close below the threshold, so "just below" means planted.
SPLIT_CLEARANCE = 0.05
# The publications of one split group fall within this many days (OCP R011 suggests up to 3 months; a month keeps a
# group inside the short windows the demo simulates).
SPLIT_WINDOW_DAYS = 30
# "Close bids": every bid within 1% of the lowest. Unplanted contests with two or more bids keep a spread of at least
# 3%, so that a detector with a slightly looser line still finds only planted ones.
CLOSE_BIDS_SPREAD = 0.01
NATURAL_MIN_SPREAD = 0.03
# A "large" award for the new-supplier pattern: about seven average direct awards (REFERENCE §7: MXN 1–2m).
# Illustrative; IMCO counts contracts to firms created shortly before the award, without a size line.
LARGE_AWARD_AMOUNT = 10_000_000.0
# Planted new suppliers were founded this many days before the procedure's publication; with at most ~60 days from
# publication to award they are always under a year old when they win. Unplanted suppliers are older than 400 days.
NEW_SUPPLIER_AGE_DAYS = (20, 240)


def direct_award_threshold(year: int) -> float:
    """Return the direct-award maximum for a year; outside the table, the nearest listed year's figure."""
    if year in DIRECT_AWARD_THRESHOLDS:
        return DIRECT_AWARD_THRESHOLDS[year]
    # The simulator may be asked for any window; a neighbouring year's line is plausible enough for synthetic data.
    nearest = min(DIRECT_AWARD_THRESHOLDS, key=lambda known: abs(known - year))
    return DIRECT_AWARD_THRESHOLDS[nearest]
