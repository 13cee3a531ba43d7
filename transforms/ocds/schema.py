"""The official OCDS 1.1.5 schemas: read from a configured folder, or downloaded once and cached."""

from __future__ import annotations

import copy
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

from transforms import jsonio
from transforms.errors import SchemaUnavailableError
from transforms.settings import Settings

log = logging.getLogger(__name__)
SCHEMA_FILES = (
    "release-schema.json",
    "release-package-schema.json",
    "record-package-schema.json",
    "versioned-release-validation-schema.json",
)
CANONICAL_BASE = "https://standard.open-contracting.org/schema/1__1__5/"
EXTENSION_DIR = Path(__file__).resolve().parents[2] / "schemas" / "ocds"


def _fix_hint() -> str:
    return (
        "set SEMAFORO_OCDS_SCHEMA_DIR to a folder holding the OCDS 1.1.5 files ("
        + ", ".join(SCHEMA_FILES)
        + "), e.g. a checkout of open-contracting/standard at tag 1__1__5 (schema/ folder)"
    )


def schema_path(settings: Settings, name: str) -> Path:
    """Return a local path to the schema file ``name``, downloading it into the cache if needed."""
    if name not in SCHEMA_FILES:
        raise SchemaUnavailableError(f"unknown schema file {name!r}; expected one of {', '.join(SCHEMA_FILES)}")
    if settings.ocds_schema_dir is not None:
        path = settings.ocds_schema_dir / name
        if not path.is_file():
            raise SchemaUnavailableError(f"{path} does not exist; SEMAFORO_OCDS_SCHEMA_DIR must hold {name}")
        return path
    cached = settings.cache_path / "ocds-schema" / "1__1__5" / name
    if cached.is_file():
        return cached
    url = settings.ocds_schema_url.rstrip("/") + "/" + name
    log.info("downloading %s into %s", url, cached)
    import httpx  # here, not at the top: it takes ~0.4 s to import and most commands never download

    try:
        response = httpx.get(url, timeout=30, follow_redirects=True)
        response.raise_for_status()
        jsonio.loads(response.content)  # never cache a broken download
    except (httpx.HTTPError, ValueError) as exc:
        raise SchemaUnavailableError(f"could not download {url} ({exc}); {_fix_hint()}") from exc
    jsonio.write_bytes(cached, response.content)
    return cached


@lru_cache(maxsize=16)
def _load(path: Path) -> Any:
    return jsonio.read_json(path)


def load_schema(settings: Settings, name: str = "release-schema.json") -> dict[str, Any]:
    """Return the parsed schema ``name`` (cached per path for the life of the process)."""
    result: dict[str, Any] = _load(schema_path(settings, name))
    return result


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply a JSON Merge Patch (RFC 7386), the way OCDS extensions patch the release schema."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def release_schema(settings: Settings) -> dict[str, Any]:
    """Return the release schema patched with the project's extension (``schemas/ocds/release-schema.json``)."""
    patched: dict[str, Any] = merge_patch(
        load_schema(settings, "release-schema.json"), jsonio.read_json(EXTENSION_DIR / "release-schema.json")
    )
    return patched


def schema_resources(settings: Settings) -> dict[str, Any]:
    """Map each canonical schema URL to its document (the release schema patched), for offline ``$ref``s."""
    resources = {CANONICAL_BASE + name: load_schema(settings, name) for name in SCHEMA_FILES}
    resources[CANONICAL_BASE + "release-schema.json"] = release_schema(settings)
    return resources
