"""Settings from the environment (``CITYOPS_*``) and an optional TOML file.

The TOML file is ``$CITYOPS_CONFIG`` if set, else ``cityops.toml`` in the working directory if it
exists. Environment variables win over the file.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def _config_file() -> Path | None:
    explicit = os.environ.get("CITYOPS_CONFIG")
    if explicit:
        return Path(explicit)
    local = Path("cityops.toml")
    return local if local.exists() else None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CITYOPS_", extra="forbid")

    data_dir: Path = Field(default=Path("var"), description="Where the SQLite file, secrets live")
    database_url: str = Field(default="", description="SQLAlchemy URL; empty = SQLite in data_dir")
    secret_key: str = Field(default="", description="Token signing key; empty = generated once")
    default_city: str = Field(default="410200", description="GB/T 2260 code of the city")
    locale: str = Field(default="zh-CN", description="Default UI/CLI language: zh-CN or en")
    timezone: str = Field(default="Asia/Shanghai")
    host: str = "127.0.0.1"
    port: int = 8000
    token_ttl_minutes: int = Field(default=480, ge=5, le=60 * 24 * 30)
    map_tile_url: str = Field(default="", description="Base map tiles ({z}/{x}/{y}); empty = none")
    city_config: Path | None = Field(
        default=None,
        description="TOML with the city's calendar, stage limits, duplicate policy (docs/cases.md)",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @field_validator("database_url")
    @classmethod
    def _normalise_pg(cls, value: str) -> str:
        # Operators paste libpq-style URLs; SQLAlchemy needs the driver named.
        for prefix in ("postgresql://", "postgres://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        if value not in ("zh-CN", "en"):
            raise ValueError("locale must be zh-CN or en")
        return value

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'cityops.db').resolve()}"

    def effective_secret_key(self) -> str:
        """The configured key, or one generated once and kept in the data directory."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process generated it first
            return path.read_text().strip()
        with os.fdopen(fd, "w") as f:
            f.write(key)
        return key


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
