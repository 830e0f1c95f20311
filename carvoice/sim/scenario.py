"""A drive scripted in TOML for the simulator: what changes when (format in config/README.md).

    [[step]]
    at = 5            # seconds after the start
    speed = 50        # any [state] name of the profile, with a number or a DBC value name
    gear = "D"

    [[step]]
    at = 20
    bus = "quiet"     # the car stops reporting ("talking" resumes)

Every value is checked against the simulated car before the drive starts, so a typo is
found at its line rather than twenty seconds in.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carvoice.errors import CarvoiceError
from carvoice.profile.positions import Positions
from carvoice.sim.car import SimCar

_RESERVED = ("at", "bus")


class ScenarioError(CarvoiceError, ValueError):
    pass


@dataclass(frozen=True)
class Step:
    at: float
    settings: dict[str, Any] = field(default_factory=dict)
    broadcasting: bool | None = None  # None: leave as it is


def load_scenario(path: str | Path, car: SimCar) -> list[Step]:
    """The steps in time order; raises ScenarioError naming the file and line of every mistake."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ScenarioError(f"{path}: {error}") from None
    positions = Positions(text)
    problems: list[str] = []

    def problem(key: str, message: str) -> None:
        problems.append(f"{path}:{positions.line_of(key) or 1}: {message}")

    for key in set(data) - {"step"}:
        problem(key, f"unknown section {key!r}: write the drive as [[step]] tables")
    raw_steps = data.get("step", [])
    if not isinstance(raw_steps, list):
        problem("step", "write each step as a [[step]] table")
        raw_steps = []
    steps = []
    for index, raw in enumerate(raw_steps):
        key = f"step[{index}]"
        if not isinstance(raw, dict):
            problem(key, "write each step as a [[step]] table")
            continue
        at = raw.get("at")
        if isinstance(at, bool) or not isinstance(at, int | float) or at < 0:
            problem(f"{key}.at" if "at" in raw else key, "give at = seconds after the start (0 or more)")
            continue
        settings = {}
        for name, value in raw.items():
            if name in _RESERVED:
                continue
            try:
                car.parse(name, value)
            except ValueError as error:
                problem(f"{key}.{name}", str(error))
                continue
            settings[name] = value
        if raw.get("bus", "talking") not in ("quiet", "talking"):
            problem(f"{key}.bus", 'bus is "quiet" or "talking"')
        broadcasting = None if "bus" not in raw else raw["bus"] == "talking"
        steps.append(Step(float(at), settings, broadcasting))
    if problems:
        raise ScenarioError("\n".join(problems))
    return sorted(steps, key=lambda step: step.at)
