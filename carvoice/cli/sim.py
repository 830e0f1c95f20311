"""carvoice sim: a profile's car on a CAN bus, for trying the agent without a car.

    carvoice sim --set speed=50 --set gear=D                 # the demo car on SocketCAN vcan0
    carvoice sim --profile config/camper --interface virtual --channel camper --scenario drive.toml

Every `[state]` value of the profile is broadcast at its message's DBC cycle time and
answered over OBD-II; commands from the head unit change the status signal they are
named after. On a terminal it shows the car live and takes commands (`help` lists them).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

import can

from carvoice.act import ActionFailed
from carvoice.act.can import network_bus_problem, open_bus
from carvoice.cli._common import add_profile_option, load_or_report, profile_dir
from carvoice.profile.model import Profile
from carvoice.sim.car import Change, car_for
from carvoice.sim.ecu import SimEcu
from carvoice.sim.scenario import ScenarioError, Step, load_scenario

REFRESH_SECONDS = 0.25


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sim", help="simulate a profile's car on a CAN bus")
    add_profile_option(parser)
    parser.add_argument("--interface", default="socketcan", help="python-can interface (default: socketcan)")
    parser.add_argument("--channel", default="vcan0", help="CAN channel (default: vcan0)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="start with this [state] value, e.g. --set speed=50 --set gear=D (repeat for more)",
    )
    parser.add_argument("--scenario", metavar="FILE", help="a scripted drive (TOML, see config/README.md)")
    parser.add_argument("--seconds", type=float, help="stop after this long (default: run until Ctrl-C or quit)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    simulation = prepare(args, sys.stdout)
    if isinstance(simulation, int):
        return simulation
    stop = threading.Event()
    if sys.stdin.isatty():
        threading.Thread(target=simulation.prompt, args=(sys.stdin, stop), daemon=True).start()
    return simulation.run(stop, args.seconds)


def prepare(args: argparse.Namespace, out: TextIO) -> Simulation | int:
    """The simulation the options describe, or the exit status after saying what is wrong."""
    profile = load_or_report(profile_dir(args.profile))
    if profile is None:
        return 2
    if not profile.state and profile.dbc is None:
        print(f"carvoice sim: {profile.root} has no DBC and no [state] values to simulate", file=sys.stderr)
        return 2
    refusal = network_bus_problem(args.interface)
    if refusal is not None:
        print(f"carvoice sim: {refusal}", file=sys.stderr)
        return 2
    car = car_for(profile)
    try:
        for setting in args.set:
            name, equals, value = setting.partition("=")
            if not equals:
                raise ValueError(f"--set {setting!r}: write NAME=VALUE, e.g. --set speed=50")
            car.set(name.strip(), value.strip())
        steps = load_scenario(args.scenario, car) if args.scenario else []
    except (ValueError, ScenarioError) as error:
        print(f"carvoice sim: {error}", file=sys.stderr)
        return 2
    try:
        bus = open_bus(args.interface, args.channel)
    except ActionFailed as error:
        print(f"carvoice sim: {error}", file=sys.stderr)
        return 1
    display = Display(out, out.isatty())
    ecu = SimEcu(bus, profile, car, on_change=display.changed)
    return Simulation(profile, bus, ecu, steps, display, f"{args.interface}:{args.channel}")


class Simulation:
    """The simulated car running: scenario steps on time, the live display, the prompt's commands."""

    def __init__(
        self, profile: Profile, bus: can.BusABC, ecu: SimEcu, steps: list[Step], display: Display, where: str
    ) -> None:
        self.profile, self.bus, self.ecu, self.display = profile, bus, ecu, display
        self.pending = list(steps)
        self.where = where
        # What the prompt understands: word -> (help, handler of the rest of the line; False ends the prompt).
        self.commands: dict[str, tuple[str, Callable[[list[str]], bool]]] = {
            "set": ("set NAME VALUE   change a [state] value, e.g. set speed 80", self._set),
            "press": ("press NAME       press a button and let go: press voice_button (push-to-talk)", self._press),
            "quiet": ("quiet            the car stops reporting (values age out)", self._broadcast(False)),
            "talk": ("talk             the car reports again", self._broadcast(True)),
            "show": ("show             every value now", self._show),
            "help": ("help             this list", self._help),
            "quit": ("quit             stop the simulation", lambda words: False),
        }

    def run(self, stop: threading.Event, seconds: float | None = None) -> int:
        """Until `stop` is set, `seconds` have passed, or Ctrl-C; always shuts the bus down."""
        self.display.note(f"simulating {self.profile.name} on {self.where} (type help for commands)")
        start = time.monotonic()
        self.ecu.start()
        try:
            while not stop.is_set():
                elapsed = time.monotonic() - start
                while self.pending and self.pending[0].at <= elapsed:
                    self._step(self.pending.pop(0))
                if seconds is not None and elapsed >= seconds:
                    break
                self.display.show(self.ecu)
                stop.wait(REFRESH_SECONDS)
        except KeyboardInterrupt:
            pass
        finally:
            self.ecu.stop()
            self.bus.shutdown()
            self.display.close()
        return 0

    def prompt(self, lines: TextIO, stop: threading.Event) -> None:
        for line in lines:
            if not self.command(line):
                break
        stop.set()

    def command(self, line: str) -> bool:
        """One line typed at the prompt; False when it asks to quit."""
        words = line.split()
        if not words:
            return True
        entry = self.commands.get(words[0].lower())
        if entry is None:
            self.display.note(f"unknown command {words[0]!r}; type help")
            return True
        return entry[1](words[1:])

    def _set(self, words: list[str]) -> bool:
        if len(words) != 2:
            self.display.note(f"write set NAME VALUE (names: {', '.join(self.ecu.car.settable)})")
            return True
        try:
            value = self.ecu.car.set(words[0], words[1])
        except ValueError as error:
            self.display.note(str(error))
        else:
            self.display.note(f"{words[0]} = {value}")
        return True

    def _press(self, words: list[str]) -> bool:
        if len(words) != 1:
            self.display.note("write press NAME, e.g. press voice_button")
            return True
        try:
            self.ecu.car.press(words[0])
        except ValueError as error:
            self.display.note(str(error))
        return True

    def _broadcast(self, on: bool) -> Callable[[list[str]], bool]:
        def switch(words: list[str]) -> bool:
            self.ecu.broadcasting = on
            return True

        return switch

    def _show(self, words: list[str]) -> bool:
        values = self.ecu.car.snapshot()
        for name in self.ecu.car.settable:
            self.display.note(f"{name} = {values[self.ecu.car.names[name]]}")
        return True

    def _help(self, words: list[str]) -> bool:
        for text, _ in self.commands.values():
            self.display.note(text)
        return True

    def _step(self, step: Step) -> None:
        for name, value in step.settings.items():
            self.ecu.car.set(name, value)
        if step.broadcasting is not None:
            self.ecu.broadcasting = step.broadcasting
        words = [f"{k} {v}" for k, v in step.settings.items()]
        if step.broadcasting is not None:
            words.append("bus talking" if step.broadcasting else "bus quiet")
        self.display.note(f"scenario at {step.at:g} s: {', '.join(words)}")


class Display:
    """A live status line on a terminal; only the changes, one per line, in a log or a pipe."""

    def __init__(self, out: TextIO, live: bool) -> None:
        self.out, self.live = out, live
        self._lock = threading.Lock()

    def note(self, text: str) -> None:
        with self._lock:
            self.out.write(("\r\x1b[K" if self.live else "") + text + "\n")
            self.out.flush()

    def changed(self, changes: list[Change]) -> None:
        self.note("command: " + ", ".join(f"{c.signal} -> {c.value}" for c in changes))

    def show(self, ecu: SimEcu) -> None:
        if not self.live:
            return
        with self._lock:
            self.out.write("\r\x1b[K" + ecu.car.status_line(ecu.broadcasting))
            self.out.flush()

    def close(self) -> None:
        if self.live:
            self.out.write("\n")
