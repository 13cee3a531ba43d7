from __future__ import annotations

from pathlib import Path

import pytest

from transforms.errors import SettingsError
from transforms.settings import load_settings


def test_defaults_are_local_and_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.data_root == Path("data")
    assert settings.cache_path == Path("data") / "cache"
    assert settings.ocds_schema_dir is None


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SEMAFORO_DATA_ROOT", str(tmp_path))
    monkeypatch.setenv("SEMAFORO_OCID_PREFIX", "ocds-abc123")
    settings = load_settings()
    assert settings.data_root == tmp_path and settings.ocid_prefix == "ocds-abc123"


def test_unknown_setting_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEMAFORO_DATA_ROTO", "/tmp/x")
    with pytest.raises(SettingsError, match="SEMAFORO_DATA_ROTO"):
        load_settings()


def test_invalid_value_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEMAFORO_HTTP_RETRIES", "many")
    with pytest.raises(SettingsError, match="http_retries"):
        load_settings()
