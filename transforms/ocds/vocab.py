"""CompraNet vocabularies mapped to OCDS codelists (REFERENCE §2.3–§2.5). Match on normalised prefixes."""

from __future__ import annotations

import unicodedata

# Invitación a cuando menos tres personas → "selective" keeps invitations in R018's default scope
# (Cardinal: open|selective). PODER maps them to "limited"; see REFERENCE §2.3. Change it here, in one place.
INVITATION_METHOD = "selective"

METHOD_PREFIXES: list[tuple[str, str]] = [
    ("LICITACION", "open"),
    ("INVITACION", INVITATION_METHOD),
    ("ADJUDICACION", "direct"),
    ("CONVENIO", "direct"),
]

CATEGORIES = {
    "ADQUISICIONES": "goods",
    "ARRENDAMIENTOS": "goods",
    "SERVICIOS": "services",
    "OBRA PUBLICA": "works",
    "SERVICIOS RELACIONADOS CON LA OP": "works",
    "SERVICIOS RELACIONADOS CON LA OBRA": "works",
}

SUBMISSION = {
    "ELECTRONICA": ["electronicSubmission"],
    "PRESENCIAL": ["inPerson"],
    "MIXTA": ["electronicSubmission", "inPerson"],
}

CONTRACT_STATUS = {
    "ACTIVO": "active",
    "TERMINADO": "terminated",
    "EXPIRADO": "terminated",
    "FORMALIZADO": "active",
    "PUBLICADO": "pending",
    "NO FORMALIZADO": "cancelled",
    "RESCINDIDO": "terminated",
}

BID_STATUS = {"VALIDA": "valid", "DESECHADA": "disqualified", "RETIRADA": "withdrawn", "INVITADO": "invited"}

# partyScale extension codelist: micro, sme, large.
SCALE = {"MICRO": "micro", "PEQUENA": "sme", "MEDIANA": "sme", "NO MIPYME": "large"}


def norm(value: object) -> str:
    """Normalise a vocabulary value: strip accents, upper-case, collapse spaces."""
    text = unicodedata.normalize("NFD", str(value or ""))
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    return " ".join(text.upper().split())


def procurement_method(raw: object) -> str | None:
    """Map a raw procedure type to the OCDS ``method`` codelist, or None when there is no convention."""
    value = norm(raw)
    for prefix, method in METHOD_PREFIXES:
        if value.startswith(prefix):
            return method
    return None
