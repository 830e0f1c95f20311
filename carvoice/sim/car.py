"""Simulated cars: any profile's car from its DBC and `[state]`, and the demo car with more physics.

A `SimCar` holds a value for every signal of every message the car reports, names them
as the profile's `[state]` does (`water`, `gear`), and applies a command to the status
signal of the same name (`HeaterSetpoint_Cmd` sets `HeaterSetpoint`). The demo car adds
what a tester of the demo would notice: windows and the sunroof travel at a finite speed
(a "close all the windows" takes seconds), the cabin drifts towards the set temperature,
the engine idles when stopped. Values are the DBC's physical values or value names, so
encoding a status frame is one call.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from carvoice.profile.model import CanAction, Profile
from carvoice.profile.suggest import known_names

# The head unit's node name in a DBC: messages it sends are commands to the car.
HEAD_UNIT = "HEAD_UNIT"
# Suffixes that make a command signal of a status signal: HeaterSetpoint_Cmd -> HeaterSetpoint.
_COMMAND_SUFFIXES = ("_Cmd", "Cmd", "_Req", "Req", "_Set", "_Command")
# A command value name that switches a status signal with no value names of its own (0 or 1).
_SWITCH = {"on": 1, "off": 0, "open": 1, "close": 0, "lock": 1, "unlock": 0, "start": 1, "stop": 0}
# The value name that means "leave it as it is" in a command.
NO_CHANGE = "nochange"
# How long `press` holds a button down: a quick press, seen by a listener on a 100 ms cycle.
PRESS_SECONDS = 0.3


@dataclass(frozen=True)
class Change:
    """One visible effect of a command, for the simulator's log."""

    signal: str
    value: Any


def command_messages(profile: Profile) -> list[Any]:
    """The messages the head unit sends: named by the profile's actions, or sent by HEAD_UNIT in the DBC."""
    named = {a.message for i in profile.intents.values() for a in i.actions if isinstance(a, CanAction)}
    return [m for m in _messages(profile) if m.name in named or HEAD_UNIT in m.senders]


def status_periods(profile: Profile) -> dict[str, float]:
    """Message name -> seconds between broadcasts: its DBC cycle time or, for a message the
    DBC gives none, three per `max_age` of the `[state]` values it carries."""
    commands = {m.name for m in command_messages(profile)}
    periods = {m.name: m.cycle_time / 1000 for m in _messages(profile) if m.cycle_time and m.name not in commands}
    for source in profile.state.values():
        if source.message is not None and source.message not in periods:
            periods[source.message] = source.max_age / 3
    return periods


def _messages(profile: Profile) -> list[Any]:
    return profile.dbc.messages if profile.dbc is not None else []


class SimCar:
    """Any profile's car: every status signal holds a value that a tester or a command can change."""

    def __init__(self, profile: Profile) -> None:
        self._lock = threading.Lock()
        self.signals: dict[str, Any] = {}  # status signal name -> its DBC definition
        for name in status_periods(profile):
            for signal in profile.dbc.get_message_by_name(name).signals:
                self.signals.setdefault(signal.name, signal)
        self.values: dict[str, Any] = {name: _initial(signal) for name, signal in self.signals.items()}
        self._held: dict[str, float] = {}  # pressed buttons -> seconds until they are let go
        # What testers type: the profile's [state] names, which stand for signals or OBD-II values.
        self.names: dict[str, str] = {}
        self.pids: dict[int, str] = {}
        for name, source in profile.state.items():
            if source.signal is not None:
                self.names[name] = source.signal
            elif source.obd_pid is not None:
                self.names[name] = name
                self.pids[source.obd_pid] = name
                self.values[name] = 0.0

    @property
    def settable(self) -> list[str]:
        """The names `set` takes: the profile's [state] names (any status signal's name works too)."""
        return sorted(self.names)

    def parse(self, name: str, value: Any) -> tuple[str, Any]:
        """The value a tester wrote, checked against the DBC: (signal or value name, value)."""
        key = self.names.get(name, name if name in self.signals else None)
        if key is None:
            raise ValueError(f"the simulated car has no {name!r} {known_names(name, self.settable)}")
        signal = self.signals.get(key)
        if signal is None:  # an OBD-II value: any number
            return key, _number(name, value)
        names = [str(choice) for choice in (signal.choices or {}).values()]
        by_lower = {n.lower(): n for n in names}
        if str(value).lower() in by_lower:
            return key, by_lower[str(value).lower()]
        number = _number(name, value, names)
        if not _in_range(signal, number):
            raise ValueError(f"{name} goes from {signal.minimum} to {signal.maximum} in the DBC, not {number:g}")
        return key, number

    def set(self, name: str, value: Any) -> Any:
        """A scenario or the tester changes the car (`water 50`, `gear D`); returns the value set."""
        key, parsed = self.parse(name, value)
        with self._lock:
            self.values[key] = parsed
        return parsed

    def press(self, name: str, seconds: float = PRESS_SECONDS) -> None:
        """The driver presses a button (a [state] value such as the voice button) and lets go
        after `seconds` of `advance`."""
        key, _ = self.parse(name, 1)
        with self._lock:
            self.values[key] = 1.0
            self._held[key] = seconds

    def _let_go(self, seconds: float) -> None:
        """Buttons held long enough go back to 0 (called with the lock held)."""
        for key, left in list(self._held.items()):
            self._held[key] = left - seconds
            if self._held[key] <= 0:
                self.values[key] = 0.0
                del self._held[key]

    def apply(self, signals: Mapping[str, Any]) -> list[Change]:
        """A decoded command frame: each signal sets the status signal it is named after."""
        changes = []
        with self._lock:
            for name, command in signals.items():
                status = self._status_of(name)
                if status is None:
                    continue
                value = _converted(command, self.signals[status])
                # A value the status signal cannot hold is ignored, as an ECU ignores an out-of-range command.
                if value is not None and _in_range(self.signals[status], value):
                    self.values[status] = value
                    changes.append(Change(status, value))
        return changes

    def _status_of(self, command_signal: str) -> str | None:
        for suffix in _COMMAND_SUFFIXES:
            if command_signal.endswith(suffix) and command_signal[: -len(suffix)] in self.signals:
                return command_signal[: -len(suffix)]
        return None

    def advance(self, seconds: float) -> None:
        """Time passes; in a car the simulator knows nothing about, only pressed buttons come back up."""
        with self._lock:
            self._let_go(seconds)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return dict(self.values)

    def obd_values(self) -> dict[int, float]:
        """What the engine ECU answers to OBD-II requests: PID -> physical value."""
        values = self.snapshot()
        return {pid: float(values[key]) for pid, key in self.pids.items()}

    def status_line(self, broadcasting: bool) -> str:
        values = self.snapshot()
        shown = " | ".join(f"{name} {_shown(values[key])}" for name, key in sorted(self.names.items()))
        return shown + ("" if broadcasting else " | BUS QUIET")


def _initial(signal: Any) -> Any:
    """The DBC's initial value, else 0 (or its name) held inside the signal's range."""
    raw = getattr(signal, "raw_initial", None)
    if raw is not None and signal.choices and raw in signal.choices:
        return str(signal.choices[raw])
    if raw is None and signal.choices and 0 in signal.choices:
        return str(signal.choices[0])
    value = signal.initial if isinstance(signal.initial, int | float) else 0.0
    low = signal.minimum if signal.minimum is not None else value
    high = signal.maximum if signal.maximum is not None else value
    return float(min(max(value, low), high))


def _converted(command: Any, status: Any) -> Any:
    """A command value as the status signal holds it, or None when it changes nothing."""
    if not isinstance(command, int | float):
        text = str(command)
        if text.lower() == NO_CHANGE:
            return None
        names = {str(n).lower(): str(n) for n in (status.choices or {}).values()}
        if text.lower() in names:
            return names[text.lower()]
        return _SWITCH.get(text.lower())
    return float(command)


def _in_range(signal: Any, value: Any) -> bool:
    """A value name, or a number inside the signal's DBC range."""
    if not isinstance(value, int | float):
        return True
    return (signal.minimum is None or value >= signal.minimum) and (signal.maximum is None or value <= signal.maximum)


def _number(name: str, value: Any, names: Iterable[str] = ()) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        choices = f"one of {', '.join(names)} or " if names else ""
        raise ValueError(f"{name} takes {choices}a number, not {value!r}") from None


def _shown(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


# -- the demo car -------------------------------------------------------------------------

# Percent of travel per second: a window opens fully in four seconds.
TRAVEL_PER_SECOND = 25.0
# Fraction of the gap to the setpoint the cabin closes per second.
CABIN_RATE = 0.02
IDLE_RPM = 800.0

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
# The demo car's engine ECU answers these mode 01 PIDs from these status signals.
OBD_SIGNALS = {
    0x0D: "VehicleSpeed",
    0x05: "CoolantTemp",
    0x2F: "FuelLevel",
    0x46: "OutsideTemp",
    0x42: "BatteryVoltage",
    0x0C: "EngineSpeed",
}
_DEMO_START = {
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
    "TempSetpoint": 21.0,
    "CabinTemp": 19.0,
    "FanLevel": 2,
    **dict.fromkeys(_TRAVEL.values(), 0.0),
}


class DemoCar(SimCar):
    """The demo car (config/demo_car): windows that travel, a cabin that warms, an engine that idles."""

    def __init__(self, profile: Profile) -> None:
        super().__init__(profile)
        self.values.update(_DEMO_START)
        self._targets: dict[str, float] = {}

    @staticmethod
    def fits(profile: Profile) -> bool:
        """True for a DBC with every signal this model drives (the demo car's, or a copy of it)."""
        signals = {s.name for m in _messages(profile) for s in m.signals}
        return set(_DEMO_START) | set(_TRAVEL) | set(_SWITCHES) <= signals

    def set(self, name: str, value: Any) -> Any:
        parsed = super().set(name, value)
        with self._lock:
            if self.values["VehicleSpeed"] > 0:
                self.values["ParkingBrake"] = 0  # a car that moves has its brake off
        return parsed

    def apply(self, signals: Mapping[str, Any]) -> list[Change]:
        """NoChange signals are left alone, as the real ECU would."""
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
                    if isinstance(command, str) and command in mapping:
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
            self._let_go(seconds)

    def obd_values(self) -> dict[int, float]:
        values = self.snapshot()
        return {pid: float(values[name]) for pid, name in OBD_SIGNALS.items()}

    def status_line(self, broadcasting: bool) -> str:
        v = self.snapshot()
        windows = " ".join(f"{w}:{v[f'Window{w}_Pos']:.0f}" for w in ("FL", "FR", "RL", "RR"))
        return (
            f"{v['VehicleSpeed']:5.1f} km/h {v['Gear']} | windows {windows} roof:{v['SunroofPos']:.0f} | "
            f"{'locked' if v['Locked'] else 'unlocked'} | trunk {'open' if v['TrunkOpen'] else 'shut'} | "
            f"{v['TempSetpoint']:.1f} C fan {v['FanLevel']} | {'' if broadcasting else 'BUS QUIET'}"
        )


def car_for(profile: Profile) -> SimCar:
    """The demo car's richer model where the DBC is the demo car's, else the car the profile describes."""
    return DemoCar(profile) if DemoCar.fits(profile) else SimCar(profile)
