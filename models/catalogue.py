"""The indicator catalogue (Markdown), generated from the registry so it is never written twice.

For every registered indicator: code, name, stage, the OCDS fields it reads, its formula, its defaults with their
reasons and sources, and its module's doc section (formula, defaults, why it is a red flag, output). The risk index's
candidate components close the page.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from models.indicators import Indicator, registry


def _value(value: Any) -> str:
    """Render a default: sets as ``a|b``, mappings as ``k: v`` pairs, None as "unset"."""
    if value is None:
        return "unset (computed fence)"
    if isinstance(value, frozenset | set):
        return "|".join(sorted(value)) or "(empty: all)"
    if isinstance(value, Mapping):
        if not value:
            return "(none)"
        return "; ".join(f"{key}: {_value(item)}" for key, item in sorted(value.items()))
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _doc(indicator: Indicator) -> str:
    """Return the indicator module's doc section without its title line."""
    module = inspect.getmodule(indicator.decide)
    text = inspect.cleandoc(module.__doc__ or "") if module is not None else ""
    return text.split("\n", 1)[1].strip() if "\n" in text else ""


def render_indicator(indicator: Indicator) -> str:
    """Render one indicator's section."""
    lines = [
        f'<a id="{indicator.code.lower()}"></a>',
        "",
        f"### {indicator.code} {indicator.name}",
        "",
        f"- **Stage:** {indicator.stage}",
        f"- **OCDS fields:** {', '.join(f'`{f}`' for f in indicator.fields)}",
        f"- **Formula:** `{indicator.formula}`",
    ]
    if indicator.defaults:
        lines += ["", "| option | default | reason and source |", "|---|---|---|"]
        for name, value in indicator.defaults.items():
            lines.append(f"| `{name}` | {_cell(_value(value))} | {_cell(indicator.reasons.get(name, ''))} |")
    else:
        lines += ["", "No options."]
    doc = _doc(indicator)
    if doc:
        lines += ["", doc]
    return "\n".join(lines) + "\n"


def render_catalogue() -> str:
    """Return the catalogue of every registered indicator and of the risk index's components as Markdown."""
    from models.risk_index import CANDIDATES

    indicators = registry()
    lines = [
        "# Indicator catalogue",
        "",
        "Generated from the indicator registry (`models.indicators`) by `models.catalogue`; do not edit by hand. "
        "R codes are the OCP 2024 guide's (REFERENCE §6.2); S codes are Semáforo's own, for risks the guide has no "
        "code for. Every flag lands in `out_flags` with its value, threshold, explanation and the fields it read.",
        "",
        "| code | name | stage | options |",
        "|---|---|---|---|",
    ]
    for code, indicator in indicators.items():
        options = ", ".join(f"`{name}`" for name in indicator.defaults) or "—"
        lines.append(f"| [{code}](#{code.lower()}) | {_cell(indicator.name)} | {indicator.stage} | {options} |")
    lines.append("")
    lines += [render_indicator(indicator) for indicator in indicators.values()]
    lines += [
        "## Corruption-risk index: candidate components",
        "",
        "Banded, validated against single bidding and weighted from the data by `models.risk_index`; the model card "
        "beside the trained artifact (`models/artifacts`) says which were kept and with what weight.",
        "",
        "| component | measure | OCDS fields |",
        "|---|---|---|",
    ]
    for candidate in CANDIDATES:
        fields = ", ".join(f"`{f}`" for f in candidate.fields)
        lines.append(f"| {candidate.name} | {_cell(candidate.description)} | {fields} |")
    return "\n".join(lines) + "\n"
