"""The simulated demo car: what its ECUs would report, and how its commands change it.

The model is deliberately small but physical where a tester would notice: windows
and the sunroof travel at a finite speed (a "close all the windows" takes seconds),
the cabin drifts towards the set temperature, the engine idles when stopped. Values
are kept as the DBC's physical values, so that encoding a status frame is one call.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Percent of travel per second: a window opens fully in four seconds.
TRAVEL_PER_SECOND = 25.0
# Fraction of the gap to the setpoint the cabin closes per second.
CABIN_RATE = 0.02
IDLE_RPM = 800.0
# How long `press` holds a button down: a quick press, seen by a listener on a 100 ms cycle.
PRESS_SECONDS = 0.3

# Command signal -> the status signal it moves (Open -> 100 %, Close -> 0 %, Stop -> where it is).
_TRAVEL = {
    "WindowFL_Cmd": "WindowFL_Pos",
    "WindowFR_Cmd": "WindowFR_Pos",
    "WindowRL_Cmd": "WindowRL_Pos",
    "WindowRR_Cmd": "WindowRR_Pos",
    "Sunroof_Cmd": "SunroofPos",
}
_ON_OFF = {"On": 1, "Off": 0}
# Command signal -> (status signal, command value -> status value).
_SWITCHES: dict[str, tuple[str, Mapping[str, Any]]] = {
    "Lock_Cmd": ("Locked", {"Lock": 1, "Unlock": 0}),
    "Trunk_Cmd": ("TrunkOpen", {"Open": 1, "Close": 0}),
    "Headlights_Cmd": ("Headlights", _ON_OFF),
    "Hazard_Cmd": ("Hazard", _ON_OFF),
    "Interior_Cmd": ("Interior", _ON_OFF),
    "FogLights_Cmd": ("FogLights", _ON_OFF),
    "RearDefrost_Cmd": ("RearDefrost", _ON_OFF),
    "Wiper_Cmd": ("Wiper", {name: name for name in ("Off", "Intermittent", "Low", "High")}),
    "AC_Cmd": ("AC", _ON_OFF),
    "Recirc_Cmd": ("Recirc", _ON_OFF),
    "SeatHeatDriver_Cmd": ("SeatHeatDriver", _ON_OFF),
    "SeatHeatPassenger_Cmd": ("SeatHeatPassenger", _ON_OFF),
}
# What the driver sets from the simulator's own command line or a scenario: name -> status signal.
SETTABLE = {
    "speed": "VehicleSpeed",
    "gear": "Gear",
    "fuel": "FuelLevel",
    "coolant": "CoolantTemp",
    "battery": "BatteryVoltage",
    "outside": "OutsideTemp",
    "setpoint": "TempSetpoint",
    "locked": "Locked",
    "trunk": "TrunkOpen",
    "voice_button": "VoiceButton",
}
GEARS = ("P", "R", "N", "D", "S")


@dataclass(frozen=True)
class Change:
    """One visible effect of a command, for the simulator's log."""

    signal: str
    value: Any


class SimCar:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values: dict[str, Any] = {
            "VehicleSpeed": 0.0,
            "Gear": "P",
            "ParkingBrake": 1,
            "Ignition": "Run",
            "FuelLevel": 62.5,
            "CoolantTemp": 88.0,
            "BatteryVoltage": 14.1,
            "EngineSpeed": IDLE_RPM,
            "OutsideTemp": 12.0,
            "Locked": 1,
            "TrunkOpen": 0,
            "DoorFL_Open": 0,
            "DoorFR_Open": 0,
            "DoorRL_Open": 0,
            "DoorRR_Open": 0,
            "Headlights": 0,
            "Hazard": 0,
            "Interior": 0,
            "FogLights": 0,
            "Wiper": "Off",
            "RearDefrost": 0,
            "TempSetpoint": 21.0,
            "CabinTemp": 19.0,
            "FanLevel": 2,
            "AC": 0,
            "Recirc": 0,
            "SeatHeatDriver": 0,
            "SeatHeatPassenger": 0,
            "VoiceButton": 0,
        }
        for position in _TRAVEL.values():
            self.values[position] = 0.0
        self._targets: dict[str, float] = {}
        self._held: dict[str, float] = {}  # pressed buttons -> seconds until released

    def set(self, name: str, value: Any) -> None:
        """A scenario or the tester changes the car: `speed 50`, `gear D`."""
        signal = SETTABLE.get(name, name)
        if signal not in self.values:
            raise ValueError(f"the simulated car has no {name!r} (try one of: {', '.join(SETTABLE)})")
        if signal == "Gear":
            value = str(value).upper()
            if value not in GEARS:
                raise ValueError(f"gear must be one of {', '.join(GEARS)}, not {value!r}")
        else:
            try:
                value = float(value)
            except ValueError:
                raise ValueError(f"{name} takes a number, not {value!r}") from None
        with self._lock:
            self.values[signal] = value
            if signal == "VehicleSpeed":
                self.values["ParkingBrake"] = 0 if value > 0 else self.values["ParkingBrake"]

    def press(self, name: str = "voice_button", seconds: float = PRESS_SECONDS) -> None:
        """The driver presses a button and lets go after `seconds` (time passes in `advance`)."""
        self.set(name, 1)
        with self._lock:
            self._held[SETTABLE.get(name, name)] = seconds

    def apply(self, signals: Mapping[str, Any]) -> list[Change]:
        """A decoded command frame; NoChange signals are left alone, as the real ECU would."""
        changes: list[Change] = []
        with self._lock:
            for name, command in signals.items():
                command = str(command) if not isinstance(command, int | float) else command
                if command == "NoChange" or (name == "TempSetpoint_Cmd" and command == 0):
                    continue
                if name in _TRAVEL:
                    position = _TRAVEL[name]
                    if command == "Stop":
                        self._targets.pop(position, None)
                    elif command in ("Open", "Close"):
                        self._targets[position] = 100.0 if command == "Open" else 0.0
                    changes.append(Change(position, command))
                elif name in _SWITCHES:
                    status, mapping = _SWITCHES[name]
                    if command in mapping:
                        self.values[status] = mapping[command]
                        changes.append(Change(status, mapping[command]))
                elif name == "TempSetpoint_Cmd":
                    self.values["TempSetpoint"] = float(command)
                    changes.append(Change("TempSetpoint", float(command)))
                elif name == "FanLevel_Cmd":
                    level = 0 if command == "Off" else int(command)
                    self.values["FanLevel"] = level
                    changes.append(Change("FanLevel", level))
        return changes

    def advance(self, seconds: float) -> None:
        """Let time pass: windows travel, the cabin warms or cools, the engine follows the speed."""
        with self._lock:
            for position, target in list(self._targets.items()):
                now = self.values[position]
                step = TRAVEL_PER_SECOND * seconds
                self.values[position] = min(target, now + step) if target > now else max(target, now - step)
                if self.values[position] == target:
                    del self._targets[position]
            cabin, setpoint = self.values["CabinTemp"], self.values["TempSetpoint"]
            self.values["CabinTemp"] = cabin + (setpoint - cabin) * min(1.0, CABIN_RATE * seconds)
            self.values["EngineSpeed"] = IDLE_RPM + 30.0 * self.values["VehicleSpeed"]
            for button, left in list(self._held.items()):
                self._held[button] = left - seconds
                if self._held[button] <= 0:
                    self.values[button] = 0
                    del self._held[button]

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return dict(self.values)
