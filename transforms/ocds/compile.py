"""Compile releases into compiled releases and records, with ocdsmerge's exact semantics (REFERENCE §4)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from transforms.ocds import fastmerge


def group_by_ocid(releases: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Group releases by exact ``ocid`` string, keeping input order inside each group."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for release in releases:
        groups.setdefault(release["ocid"], []).append(release)
    return groups


def compile_releases(
    releases: Iterable[dict[str, Any]], schema: dict[str, Any], *, versioned: bool = False
) -> Iterator[dict[str, Any]]:
    """Yield one compiled (or versioned) release per ocid, ordered by ocid, exactly as ``ocdskit compile``.

    The merge itself is :mod:`transforms.ocds.fastmerge`, which equals ocdsmerge's output and hands the rare
    ambiguous group to ocdsmerge itself.
    """
    yield from fastmerge.compile_stream(releases, schema, versioned=versioned)


def continue_compiled(
    previous: dict[str, Any] | None, releases: list[dict[str, Any]], rules: fastmerge.MergeRules
) -> dict[str, Any] | None:
    """Return the compiled release of an ocid's earlier releases followed by ``releases``, from its compiled release.

    Merging is a left fold over releases sorted by ``date`` (REFERENCE §4), and a compiled release holds exactly the
    state the fold had reached: every merged value, ids first, no ``null`` (removed fields are absent) and no
    ``tag``/``id``/``date`` worth merging (they are omitted when merging). So when every new release sorts at or after
    the last merged one (its raw ``date`` string is not smaller than the compiled ``date``), folding the new releases
    into the compiled release gives the full recompile's value. Otherwise return None: only a full recompile can
    place a release that sorts before others. Nor can an empty object in an array (an id-less item whose fields
    were all ``null``) be merged again as it was first stored. Key order can differ from a full recompile only where
    a field was set, then removed with ``null``, then set again (ocdsmerge keeps its first place); values never do.
    """
    if previous is None:
        return fastmerge.compile_release(releases, rules)
    last = previous.get("date")
    if not isinstance(last, str) or any(not isinstance(r.get("date"), str) or r["date"] < last for r in releases):
        return None
    if _holds_empty_object(previous):
        return None
    return fastmerge.compile_release([previous, *releases], rules)


def _holds_empty_object(value: Any) -> bool:
    if isinstance(value, dict):
        return not value or any(_holds_empty_object(child) for child in value.values())
    if isinstance(value, list):
        return any(_holds_empty_object(child) for child in value)
    return False


def read_inputs(documents: Iterable[Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Split release packages and bare releases into (releases with their package URI, package metadata).

    Metadata follows ``ocdskit compile --package``: ``publisher``, ``license`` and ``publicationPolicy`` of the last
    package that has them, the ordered union of ``extensions``, and every package ``uri`` in ``packages``.
    """
    releases: list[dict[str, Any]] = []
    meta: dict[str, Any] = {
        "publisher": {},
        "license": None,
        "publicationPolicy": None,
        "extensions": {},
        "packages": [],
    }
    for document in documents:
        if isinstance(document, dict) and "releases" in document and "ocid" not in document:
            uri = document.get("uri", "")
            for field in ("publisher", "license", "publicationPolicy"):
                if field in document:
                    meta[field] = document[field]
            meta["extensions"].update(dict.fromkeys(document.get("extensions") or []))
            if uri:
                meta["packages"].append(uri)
            releases.extend({**release, "__uri__": uri} for release in document["releases"] if release is not None)
        else:
            releases.append({**document, "__uri__": ""})
    return releases, meta


def record_package(
    documents: Iterable[Any],
    schema: dict[str, Any],
    *,
    uri: str = "",
    published_date: str = "",
    publisher: dict[str, Any] | None = None,
    versioned: bool = False,
    linked_releases: bool = False,
) -> dict[str, Any]:
    """Compile inputs into one record package, as ``ocdskit compile --package`` does."""
    releases, meta = read_inputs(documents)
    rules = fastmerge.merge_rules(schema)
    groups = group_by_ocid(releases)
    records = []
    for ocid in sorted(groups):
        plain = [{k: v for k, v in r.items() if k != "__uri__"} for r in groups[ocid]]
        linked = [
            {"url": r["__uri__"] + "#" + r["id"], "date": r["date"], "tag": r["tag"]}
            if linked_releases and r["__uri__"]
            else plain[i]
            for i, r in enumerate(groups[ocid])
        ]
        record = {"ocid": ocid, "releases": linked, "compiledRelease": fastmerge.compile_release(plain, rules)}
        if versioned:
            record["versionedRelease"] = fastmerge.versioned_release(plain, rules)
        records.append(record)
    package: dict[str, Any] = {
        "uri": uri,
        "publisher": publisher or meta["publisher"],
        "publishedDate": published_date,
        "license": meta["license"],
        "publicationPolicy": meta["publicationPolicy"],
        "version": "1.1",
        "extensions": list(meta["extensions"]),
        "packages": meta["packages"],
        "records": records,
    }
    for field in ("packages", "extensions"):
        if not package[field]:
            del package[field]
    for field in ("license", "publicationPolicy"):
        if package[field] is None:
            del package[field]
    return package
