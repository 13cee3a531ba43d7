"""Publish a dated folder for civil society, then point ``publish/latest`` at it atomically.

Every file gets a SHA-256 in ``SHA256SUMS`` and a resource in ``datapackage.json`` (Frictionless). Package
metadata (``publishedDate``) comes from the data interval, never from the clock, so re-runs give the same bytes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from transforms.ocds.mapping import EXTENSIONS
from transforms.settings import Settings

PACKAGE_SIZE = 1000  # records or releases per package line


def package_metadata(settings: Settings, key: str, name: str, published: str) -> dict[str, Any]:
    """Return the metadata every package of a publication carries."""
    return {
        "uri": f"{settings.publication_base_uri.rstrip('/')}/{key}/{name}",
        "version": "1.1",
        "publishedDate": published,
        "publisher": {"name": settings.publisher_name, "uri": settings.publisher_uri},
        "license": settings.license_url,
        "publicationPolicy": settings.publication_policy_url,
        "extensions": EXTENSIONS,
    }


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def release_packages(releases: Iterable[dict[str, Any]], meta: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield release packages of at most PACKAGE_SIZE releases each."""
    for chunk in _chunks(releases, PACKAGE_SIZE):
        yield {**meta, "releases": chunk}


def record_packages(
    compiled: Iterable[dict[str, Any]],
    releases_by_ocid: dict[str, list[dict[str, Any]]],
    meta: dict[str, Any],
    release_package_uri: str,
) -> Iterator[dict[str, Any]]:
    """Yield record packages: each record links its releases (``uri#id``, oldest first) and embeds the compiled one."""

    def record(compiled_release: dict[str, Any]) -> dict[str, Any]:
        linked = sorted(releases_by_ocid.get(compiled_release["ocid"], []), key=lambda r: r["date"])
        return {
            "ocid": compiled_release["ocid"],
            "releases": [
                {"url": f"{release_package_uri}#{r['id']}", "date": r["date"], "tag": r["tag"]} for r in linked
            ],
            "compiledRelease": compiled_release,
        }

    for chunk in _chunks((record(c) for c in compiled), PACKAGE_SIZE):
        yield {**meta, "packages": [release_package_uri], "records": chunk}


def sha256(path: Path) -> str:
    """Return the hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


MEDIA_TYPES = {
    ".gz": "application/gzip",
    ".jsonl": "application/jsonl",
    ".json": "application/json",
    ".csv": "text/csv",
    ".duckdb": "application/octet-stream",
    ".parquet": "application/vnd.apache.parquet",
    ".md": "text/markdown",
}


def describe(
    folder: Path, descriptions: dict[str, str], schemas: dict[str, dict[str, Any]], key: str, settings: Settings
) -> dict[str, Any]:
    """Build the Frictionless data package descriptor for every file in ``folder``."""
    resources = []
    for path in sorted(
        p for p in folder.rglob("*") if p.is_file() and p.name not in ("datapackage.json", "SHA256SUMS")
    ):
        relative = path.relative_to(folder).as_posix()
        name = relative.lower().replace("/", "-").replace(".", "-").replace("_", "-")
        resource: dict[str, Any] = {
            "name": name,
            "path": relative,
            "bytes": path.stat().st_size,
            "hash": f"sha256:{sha256(path)}",
            "mediatype": MEDIA_TYPES.get(path.suffix, "application/octet-stream"),
        }
        if relative.endswith(".csv"):
            resource.update(format="csv", encoding="utf-8", profile="tabular-data-resource")
        if relative in descriptions:
            resource["description"] = descriptions[relative]
        if relative in schemas:
            resource["schema"] = schemas[relative]
        resources.append(resource)
    return {
        "name": f"semaforo-{key}",
        "title": f"Semáforo: CompraNet procurement data as OCDS, {key}",
        "licenses": [{"name": "Libre-Uso-MX", "path": settings.license_url, "title": "Términos de Libre Uso MX"}],
        "resources": resources,
    }


def write_checksums(folder: Path) -> None:
    """Write ``SHA256SUMS`` (``sha256sum -c`` format) for every file except itself."""
    lines = [
        f"{sha256(path)}  {path.relative_to(folder).as_posix()}\n"
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "SHA256SUMS")
    ]
    (folder / "SHA256SUMS").write_text("".join(lines))


def switch_latest(publish_root: Path, key: str) -> None:
    """Point ``publish_root/latest`` at ``key`` atomically (a relative symlink replaced by rename)."""
    tmp = publish_root / f".latest-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    os.symlink(key, tmp)
    os.replace(tmp, publish_root / "latest")


def swap_folder(staging: Path, final: Path) -> None:
    """Replace ``final`` with ``staging`` (rename old away, rename new in, remove old)."""
    if final.exists():
        old = final.with_name(f".old-{final.name}-{os.getpid()}")
        os.replace(final, old)
        os.replace(staging, final)
        shutil.rmtree(old)
    else:
        os.replace(staging, final)
