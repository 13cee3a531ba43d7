"""Compile releases into compiled releases and records, with ocdsmerge's exact semantics (REFERENCE §4)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import ocdsmerge


def group_by_ocid(releases: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Group releases by exact ``ocid`` string, keeping input order inside each group."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for release in releases:
        groups.setdefault(release["ocid"], []).append(release)
    return groups


def compile_releases(
    releases: Iterable[dict[str, Any]], schema: dict[str, Any], *, versioned: bool = False
) -> Iterator[dict[str, Any]]:
    """Yield one compiled (or versioned) release per ocid, ordered by ocid, exactly as ``ocdskit compile``."""
    merger = ocdsmerge.Merger(schema=schema)
    groups = group_by_ocid(releases)
    for ocid in sorted(groups):
        if versioned:
            yield merger.create_versioned_release(groups[ocid])
        else:
            yield merger.create_compiled_release(groups[ocid])
