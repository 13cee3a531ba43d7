"""Withhold personal data from the publication, as the publication policy says (``publication_personal_data``).

Personal data in what we publish sits in contact points: CompraNet's ``responsable`` (the official heading a buying
unit) becomes ``parties/contactPoint/name`` (REFERENCE §2.2). OCDS puts contact details of people in
``ContactPoint`` objects only (``name``, ``email``, ``telephone``, ``faxNumber``, ``url``), under ``parties`` and,
in OCDS 1.0-style data, in deprecated organization references; the ``additionalContactPoints`` extension adds a
list of them. Redaction removes those objects wherever they occur, so releases, compiled releases and records stay
valid (every ContactPoint field is optional) and carry no placeholder that could be mistaken for a name.

The star schema (``transforms.tables``) carries no contact point column, so the Parquet files, the DuckDB copy and
the flat files derived from them hold no personal data under either policy; ``tests/unit/test_redact.py`` and the
publication scan in ``tests/integration/test_publication.py`` keep that true.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

import orjson

Policy = Literal["redact", "keep"]
# Keys whose whole value is personal data: OCDS ContactPoint objects and the extension's list of them.
PERSONAL_KEYS = frozenset({"contactPoint", "additionalContactPoints"})


def redact(value: Any) -> Any:
    """Return a copy of an OCDS value without any contact point, at any depth; the input is left untouched."""
    if isinstance(value, dict):
        return {key: redact(child) for key, child in value.items() if key not in PERSONAL_KEYS}
    if isinstance(value, list):
        return [redact(child) for child in value]
    return value


def _keep(value: Any) -> Any:
    return value


def redactor(policy: Policy | str) -> Callable[[Any], Any]:
    """Return the function that applies the publication policy to one release or compiled release."""
    if policy == "redact":
        return redact
    if policy == "keep":
        return _keep
    raise ValueError(f"unknown personal data policy {policy!r} (redact or keep)")


# How a personal-data key appears in JSON text as orjson writes it (ASCII keys are never escaped).
PERSONAL_MARKERS = tuple(f'"{key}"'.encode() for key in sorted(PERSONAL_KEYS))
# A personal-data key and its colon in compact JSON, as it follows the ``{`` or ``,`` before it.
_MEMBERS = tuple(f'"{key}":' for key in sorted(PERSONAL_KEYS))
_DECODER = json.JSONDecoder()


def _redact_text(text: bytes) -> bytes:
    if not any(marker in text for marker in PERSONAL_MARKERS):
        return text  # nothing to withhold: the text is published as stored, without parsing it
    cut = _cut_members(text)
    if cut is not None:
        return cut
    return orjson.dumps(redact(orjson.loads(text)))


def _cut_members(text: bytes) -> bytes | None:
    """Remove the personal-data members from compact JSON text (as orjson writes it) without parsing the rest: each
    member's value is measured by the standard library's scanner and cut out with its comma. Returns None, for the
    parsing path, when the text is not compact or a marker is still there after the cuts (say, a string that reads
    like the key)."""
    body = text.decode()
    spans = []
    for member in _MEMBERS:
        at = body.find(member)
        while at != -1:
            # In valid JSON, `{"key":` or `,"key":` with those quotes is always a member named key.
            if at and body[at - 1] in "{,":
                try:
                    _, end = _DECODER.raw_decode(body, at + len(member))
                except ValueError:
                    return None
                spans.append((at, end))
            at = body.find(member, at + 1)
    parts, kept = [], 0
    for at, end in sorted(spans):
        if at < kept:
            continue  # inside a member cut already (contact points within the extension's list)
        if body[at - 1] == "," and at - 1 >= kept:
            parts.append(body[kept : at - 1])  # the member and the comma before it
            kept = end
        else:  # the first member left in its object: the member and the comma after it
            parts.append(body[kept:at])
            kept = end + 1 if body.startswith(",", end) else end
    parts.append(body[kept:])
    result = "".join(parts).encode()
    return None if any(marker in result for marker in PERSONAL_MARKERS) else result


def _keep_text(text: bytes) -> bytes:
    return text


def text_redactor(policy: Policy | str) -> Callable[[bytes], bytes]:
    """Return the publication policy for one release or compiled release as compact JSON bytes (orjson's)."""
    if policy == "redact":
        return _redact_text
    if policy == "keep":
        return _keep_text
    raise ValueError(f"unknown personal data policy {policy!r} (redact or keep)")


def personal_values(value: Any) -> set[str]:
    """Return every non-blank string held under a personal-data key, at any depth (what redaction removes)."""
    found: set[str] = set()

    def walk(node: Any, personal: bool) -> None:
        if isinstance(node, dict):
            for key, child in node.items():
                walk(child, personal or key in PERSONAL_KEYS)
        elif isinstance(node, list):
            for child in node:
                walk(child, personal)
        elif personal and isinstance(node, str) and node.strip():
            found.add(node)

    walk(value, False)
    return found
