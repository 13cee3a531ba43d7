"""Cardinal compatibility: read Cardinal's INI settings and write Cardinal's JSON results (REFERENCE §6.1).

Settings file (as written by ``ocdscardinal init``)::

    currency = MXN                                   ; global keys sit above the first section
    no_price_comparison_procurement_methods = A|B   ; pipe-separated, matched on procurementMethodDetails
    price_comparison_procurement_methods = C

    [exclusions]
    procurement_method_details = Random Selection

    [R003]                                           ; an indicator runs only if its section exists
    threshold = 15

    [R003.procurement_method_details]                ; a dotted section is a mapping option (and enables R003)
    Licitación Pública Nacional = 10

Names are case-sensitive, as in Cardinal. The ``prepare`` sections (``defaults``, ``redactions``, ``corrections``,
``modifications``, ``codelists.*``) are accepted and ignored; any other unknown section or key is an error.

Results: ``{"OCID": {ocid: {code: value}}, "Buyer": …, "ProcuringEntity": …, "Tenderer": …, "Meta": {code: {…}}}``,
with a group only when something in it was flagged and Meta values rounded to 4 decimals.
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path
from typing import Any

from models.indicators import GROUPS, Report, registry, round4
from models.indicators.settings import IndicatorSettings, IndicatorSettingsError, pipe_separated

GLOBAL_KEYS = ("currency", "no_price_comparison_procurement_methods", "price_comparison_procurement_methods")
PREPARE_SECTIONS = ("defaults", "redactions", "corrections", "modifications")
# configparser wants a section before any key; Cardinal's global keys have none, so one is prepended. Its name cannot
# clash with a real section, and it is not configparser's DEFAULT, whose keys would leak into every section.
_GLOBAL = "\x00global"


def parse_settings(text: str, source: str = "<settings>") -> IndicatorSettings:
    """Parse Cardinal's INI settings; raise IndicatorSettingsError naming the file and the problem."""
    parser = configparser.ConfigParser(
        interpolation=None,
        default_section="\x00default",
        inline_comment_prefixes=(";", "#"),
        strict=True,
    )
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive, as in Cardinal
    try:
        parser.read_string(f"[{_GLOBAL}]\n{text}", source)
    except configparser.Error as exc:
        raise IndicatorSettingsError(f"{source}: {_one_line(exc, source)}") from None

    known = registry()
    values: dict[str, Any] = {}
    exclusions: frozenset[str] = frozenset()
    indicators: dict[str, dict[str, Any]] = {}
    for section in parser.sections():
        items = dict(parser.items(section))
        code, _, option = section.partition(".")
        if section == _GLOBAL:
            for key, value in items.items():
                if key not in GLOBAL_KEYS:
                    raise IndicatorSettingsError(
                        f"{source}: unknown global key {key!r} (known: {', '.join(GLOBAL_KEYS)})"
                    )
                values[key] = value
        elif section == "exclusions":
            for key, value in items.items():
                if key != "procurement_method_details":
                    raise IndicatorSettingsError(f"{source}: [exclusions] has no key {key!r}")
                exclusions = _pipes(source, section, key, value)
        elif code in known:
            options = indicators.setdefault(code, {})
            if option:
                options[option] = items
            else:
                options.update(items)
        elif section in PREPARE_SECTIONS or code == "codelists":
            continue  # `prepare` settings: nothing to do for the indicators
        else:
            raise IndicatorSettingsError(
                f"{source}: unknown section [{section}] (indicators: {', '.join(known)}; or exclusions)"
            )

    for code, options in indicators.items():
        try:
            known[code].configure(options)  # fail early, before any data is read
        except IndicatorSettingsError as exc:
            raise IndicatorSettingsError(f"{source}: {exc}") from None
    currency = values.get("currency")
    return IndicatorSettings(
        currency=currency if currency else None,
        no_price_comparison_procurement_methods=_pipes(
            source,
            "",
            "no_price_comparison_procurement_methods",
            values.get("no_price_comparison_procurement_methods"),
        ),
        price_comparison_procurement_methods=_pipes(
            source, "", "price_comparison_procurement_methods", values.get("price_comparison_procurement_methods")
        ),
        exclusions=exclusions,
        indicators=indicators,
    )


def _one_line(exc: configparser.Error, source: str) -> str:
    message = str(exc).replace(f"While reading from {source!r} ", "").replace(f": {source!r}", "")
    message = message.replace("Source contains parsing errors", "cannot parse").replace("\\n'", "'")
    # Line numbers count the prepended header; report them as the user's file numbers its lines.
    message = re.sub(r"\[line\s+(\d+)\]", lambda m: f"line {int(m.group(1)) - 1}", message)
    return " ".join(message.replace(repr(_GLOBAL), "(top of file)").split())


def _pipes(source: str, section: str, key: str, value: str | None) -> frozenset[str]:
    if value is None:
        return frozenset()
    try:
        return pipe_separated(value)
    except IndicatorSettingsError as exc:
        where = f"[{section}] " if section else ""
        raise IndicatorSettingsError(f"{source}: {where}{key}: {exc}") from None


def load_settings(path: Path) -> IndicatorSettings:
    """Read Cardinal's INI settings from a file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise IndicatorSettingsError(f"cannot read settings {path}: {exc.strerror or exc}") from None
    return parse_settings(text, str(path))


def results(report: Report, *, meta: bool = True) -> dict[str, Any]:
    """Return Cardinal's results object: groups with flagged units, then Meta unless ``meta`` is False."""
    shaped: dict[str, Any] = {}
    for group in GROUPS:
        units: dict[str, dict[str, float]] = {}
        for code, outcome in report.outcomes.items():
            for (result_group, key), result in outcome.results.items():
                if result_group == group:
                    units.setdefault(key, {})[code] = result.value
        if units:
            shaped[group] = units
    if meta:
        shaped["Meta"] = {
            code: {key: round4(value) for key, value in outcome.meta.items()}
            for code, outcome in report.outcomes.items()
            if outcome.meta
        }
    return shaped
