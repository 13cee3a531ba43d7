"""The one settings module: every setting is read from the environment with the ``SEMAFORO_`` prefix.

Every setting has a safe local default. An environment variable that starts with ``SEMAFORO_`` but names no setting
is an error (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from transforms.errors import SettingsError

PREFIX = "SEMAFORO_"
OCDS_SCHEMA_URL = "https://standard.open-contracting.org/schema/1__1__5/"
LIBRE_USO_MX = "https://datos.gob.mx/libreusomx"


class Settings(BaseSettings):
    """Semáforo's settings; see the README's "Settings" table."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="forbid", frozen=True)

    data_root: Path = Field(Path("data"), description="Root folder of every output (raw, releases, tables, publish).")
    ocid_prefix: str = Field(
        "ocds-sem4f0",
        description="OCID prefix of the releases we publish. Register your own with OCP before publishing for real.",
    )
    ocds_schema_dir: Path | None = Field(
        None, description="Folder holding the OCDS 1.1.5 schema files; when unset they are downloaded and cached."
    )
    ocds_schema_url: str = Field(OCDS_SCHEMA_URL, description="Where the OCDS schema is downloaded from.")
    cache_dir: Path | None = Field(None, description="Download cache; defaults to DATA_ROOT/cache.")
    source_url: str = Field(
        "http://127.0.0.1:8765", description="Base URL of the CompraNet-like stage API the nightly DAG pulls."
    )
    source_name: str = Field("compranet_api", description="Name of the landed source (folder under raw/).")
    publishers_file: Path | None = Field(
        None,
        description="JSON list of OCDS publishers for the ocds_<name> DAGs; default schemas/sources/publishers.json.",
    )
    http_timeout: float = Field(30.0, description="Seconds before one HTTP request times out.")
    http_retries: int = Field(6, description="Attempts per HTTP request before the extract fails.")
    page_size: int = Field(500, description="Records asked for per API page.")
    publisher_name: str = Field("Semáforo", description="`publisher.name` of published packages.")
    publisher_uri: str = Field("https://github.com/semaforo-mx/semaforo", description="`publisher.uri`.")
    publication_base_uri: str = Field(
        "https://example.org/semaforo/publish", description="Base URI of the publication (package `uri`s)."
    )
    license_url: str = Field(LIBRE_USO_MX, description="Licence of the published data (Libre Uso MX by default).")
    publication_policy_url: str = Field(
        "https://github.com/semaforo-mx/semaforo#publication-policy", description="`publicationPolicy` URL."
    )
    publication_personal_data: str = Field(
        "redact",
        pattern="^(redact|keep)$",
        description="Personal data (contact points, e.g. the official heading a buying unit) in every published "
        "format: `redact` withholds it, `keep` publishes it.",
    )
    publication_file_limit: int = Field(
        250_000,
        gt=0,
        description="Most awards, and most contracts, in one published OCDS file (OCDS hosting guidance); larger "
        "files continue in `-2`, `-3` ….",
    )
    publication_refresh_days: int = Field(
        7,
        ge=0,
        description="Days between cut nights, which rewrite the yearly and full OCDS files and the flat files: a "
        "night in between links them from its cut night's publication and publishes what changed since in "
        "`records/changes.jsonl.gz` and `releases/changes.jsonl.gz` (its cost follows the night's data, not the "
        "history). 0 cuts every night.",
    )

    keep_snapshots: int = Field(
        7,
        ge=2,
        description="Nightly warehouse snapshots kept: older ones are removed once a night's tables are built (each "
        "night starts from the one before; re-running an older night rebuilds its tables in full).",
    )

    @property
    def cache_path(self) -> Path:
        """Return the download cache folder."""
        return self.cache_dir if self.cache_dir is not None else self.data_root / "cache"


def _check_unknown(environ: dict[str, str]) -> None:
    known = {PREFIX + name.upper() for name in Settings.model_fields}
    unknown = sorted(key for key in environ if key.startswith(PREFIX) and key not in known)
    if unknown:
        raise SettingsError(f"unknown setting(s) {', '.join(unknown)}; known settings are {', '.join(sorted(known))}")


def load_settings(**overrides: object) -> Settings:
    """Read the settings from the environment, with keyword overrides taking precedence."""
    _check_unknown(dict(os.environ))
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise SettingsError(str(exc)) from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings (read once)."""
    return load_settings()
