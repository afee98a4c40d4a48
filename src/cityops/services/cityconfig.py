"""A city's configuration as data: working calendar, stage limits, duplicate policy, dispatch
precedence. Loaded from TOML and validated at start; never a code branch per city.

The active configuration is process-wide (one deployment = one city, decisions D1): the API and
the CLI call ``configure`` at start with the file named by settings (``city_config``); without one,
the documented defaults apply (DESIGN §8).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from cityops.core.clock import CalendarConfig
from cityops.core.duplicates import DuplicatePolicy
from cityops.core.errors import CityopsError, ValidationFailed
from cityops.core.standards import DEFAULT_STAGE_LIMITS, StageLimits
from cityops.services.cache import invalidate_all


@dataclass(frozen=True)
class CityConfig:
    calendar: CalendarConfig = field(default_factory=CalendarConfig)
    stage_limits: StageLimits = DEFAULT_STAGE_LIMITS
    duplicates: DuplicatePolicy = field(default_factory=DuplicatePolicy)
    dispatch_precedence: tuple[str, ...] = ("type", "area", "owner")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CityConfig:
        unknown = set(data) - {"calendar", "stage_limits", "duplicates", "dispatch"}
        if unknown:
            raise ValidationFailed(
                f"城市配置有未知项：{', '.join(sorted(unknown))}",
                en=f"unknown city configuration keys: {', '.join(sorted(unknown))}",
                code="bad_city_config",
            )
        cal = CalendarConfig.from_dict(data["calendar"]) if "calendar" in data else CalendarConfig()
        limits = StageLimits.parse(data.get("stage_limits", {}))
        dup = data.get("duplicates", {})
        policy = DuplicatePolicy(
            radius_m=float(dup.get("radius_m", 50.0)),
            window=timedelta(hours=float(dup.get("window_hours", 24))),
            same_type_only=bool(dup.get("same_type_only", True)),
        )
        precedence = tuple(data.get("dispatch", {}).get("precedence", ("type", "area", "owner")))
        return cls(cal, limits, policy, precedence)

    @classmethod
    def load(cls, path: Path) -> CityConfig:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise CityopsError(
                f"无法读取城市配置 {path}：{exc}",
                en=f"cannot read city configuration {path}: {exc}",
                code="bad_city_config",
            ) from exc
        return cls.from_dict(data)


_active = CityConfig()


def configure(config: CityConfig | Path | None) -> CityConfig:
    global _active
    _active = CityConfig.load(config) if isinstance(config, Path) else (config or CityConfig())
    invalidate_all()
    return _active


def active() -> CityConfig:
    return _active
