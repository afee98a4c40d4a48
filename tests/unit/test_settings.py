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


def test_a_stamped_cache_builds_once_and_sees_changes(tmp_path: Path) -> None:
    """Concurrent first users build once; a new stamp (after the TTL) or invalidate rebuilds."""
    import threading

    from sqlalchemy.orm import Session

    from cityops.services.cache import StampedCache
    from cityops.store.db import make_engine, session_factory

    stamp = [1]
    builds: list[int] = []

    def build(_s: Session) -> int:
        builds.append(stamp[0])
        return stamp[0] * 10

    cache = StampedCache(lambda _s: stamp[0], build, ttl=0.0)
    sessions = session_factory(make_engine(f"sqlite:///{tmp_path}/c.db"))
    results: list[int] = []

    def use() -> None:
        with sessions() as s:
            results.append(cache.get(s))

    threads = [threading.Thread(target=use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [10] * 8 and builds == [1]
    stamp[0] = 2
    with sessions() as s:
        assert cache.get(s) == 20
        cache.ttl = 3600
        stamp[0] = 3
        assert cache.get(s) == 20  # within the TTL the stamp is not even read
        cache.invalidate()
        assert cache.get(s) == 30
