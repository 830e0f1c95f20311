"""A drive scripted in TOML for the simulator: what changes when.

[[step]]
at = 0            # seconds after the start
speed = 0
gear = "P"

[[step]]
at = 5
speed = 50
gear = "D"

[[step]]
at = 20
bus = "quiet"     # the car stops reporting ("talking" resumes)
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carvoice.sim.car import SETTABLE


class ScenarioError(ValueError):
    pass


@dataclass(frozen=True)
class Step:
    at: float
    settings: dict[str, Any] = field(default_factory=dict)
    broadcasting: bool | None = None  # None: leave as it is


def load_scenario(path: str | Path) -> list[Step]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ScenarioError(f"{path}: {error}") from None
    steps = []
    for index, raw in enumerate(data.get("step", [])):
        where = f"{path}: step {index + 1}"
        if not isinstance(raw.get("at"), int | float) or raw["at"] < 0:
            raise ScenarioError(f"{where}: give at = seconds after the start")
        unknown = set(raw) - set(SETTABLE) - {"at", "bus"}
        if unknown:
            raise ScenarioError(f"{where}: unknown {', '.join(sorted(unknown))} (known: {', '.join(SETTABLE)}, bus)")
        if raw.get("bus", "talking") not in ("quiet", "talking"):
            raise ScenarioError(f'{where}: bus is "quiet" or "talking"')
        settings = {k: v for k, v in raw.items() if k in SETTABLE}
        broadcasting = None if "bus" not in raw else raw["bus"] == "talking"
        steps.append(Step(float(raw["at"]), settings, broadcasting))
    if set(data) - {"step"}:
        raise ScenarioError(f"{path}: write the drive as [[step]] tables")
    return sorted(steps, key=lambda step: step.at)
