"""Settings: TOML file, environment precedence, URL normalisation, generated secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from cityops.settings import Settings


def test_toml_file_and_environment_precedence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "city.toml"
    config.write_text('default_city = "530100"\nlocale = "en"\nport = 9000\n', encoding="utf-8")
    monkeypatch.setenv("CITYOPS_CONFIG", str(config))
    monkeypatch.setenv("CITYOPS_PORT", "9100")
    s = Settings()
    assert (s.default_city, s.locale, s.port) == ("530100", "en", 9100)


def test_default_database_is_sqlite_in_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CITYOPS_DATABASE_URL", raising=False)
    s = Settings(data_dir=tmp_path)
    assert s.effective_database_url == f"sqlite:///{tmp_path.resolve()}/cityops.db"


def test_libpq_urls_get_the_psycopg_driver() -> None:
    s = Settings(database_url="postgresql://postgres@127.0.0.1/city")
    assert s.effective_database_url == "postgresql+psycopg://postgres@127.0.0.1/city"


def test_secret_is_generated_once_and_private(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path)
    key = s.effective_secret_key()
    assert len(key) >= 48 and s.effective_secret_key() == key
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(locale="fr")
    with pytest.raises(ValidationError):
        Settings(unknown_key=1)  # type: ignore[call-arg]
