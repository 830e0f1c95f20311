"""carvoice sim: the demo car's ECUs on a CAN bus, for trying the agent without a car.

    carvoice sim --channel vcan0 --speed 50 --gear D        # SocketCAN, the default interface
    carvoice sim --interface virtual --channel demo_car --scenario drive.toml

On a terminal it shows the car live and takes commands such as `speed 80`,
`gear P`, `press` (the voice button), `quiet` (stop reporting), `talk` and `quit`.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import Any, TextIO

from carvoice.act import ActionFailed
from carvoice.act.can import open_bus
from carvoice.cli._common import add_profile_option, load_or_report, profile_dir
from carvoice.sim.car import SETTABLE, Change
from carvoice.sim.ecu import SimEcu
from carvoice.sim.scenario import ScenarioError, Step, load_scenario

REFRESH_SECONDS = 0.25


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sim", help="simulate the demo car's ECUs on a CAN bus")
    add_profile_option(parser)
    parser.add_argument("--interface", default="socketcan", help="python-can interface (default: socketcan)")
    parser.add_argument("--channel", default="vcan0", help="CAN channel (default: vcan0)")
    for name in SETTABLE:
        parser.add_argument(f"--{name}", metavar="VALUE", help=f"initial {name}")
    parser.add_argument("--scenario", metavar="FILE", help="a scripted drive (TOML, see carvoice/sim/scenario.py)")
    parser.add_argument("--seconds", type=float, help="stop after this long (default: run until Ctrl-C or quit)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    profile = load_or_report(profile_dir(args.profile))
    if profile is None:
        return 2
    if profile.dbc is None:
        print(f"carvoice sim: {profile.root} has no DBC to simulate", file=sys.stderr)
        return 2
    try:
        steps = load_scenario(args.scenario) if args.scenario else []
    except ScenarioError as error:
        print(f"carvoice sim: {error}", file=sys.stderr)
        return 2
    try:
        bus = open_bus(args.interface, args.channel)
    except ActionFailed as error:
        print(f"carvoice sim: {error}", file=sys.stderr)
        return 1
    live = sys.stdout.isatty()
    display = Display(sys.stdout, live)
    ecu = SimEcu(bus, profile.dbc, on_change=display.changed)
    try:
        for name in SETTABLE:
            if getattr(args, name) is not None:
                ecu.car.set(name, getattr(args, name))
    except ValueError as error:
        print(f"carvoice sim: {error}", file=sys.stderr)
        bus.shutdown()
        return 2
    stop = threading.Event()
    if sys.stdin.isatty():
        threading.Thread(target=_read_commands, args=(ecu, display, stop), daemon=True).start()
    display.note(f"simulating {profile.name} on {args.interface}:{args.channel}")
    start = time.monotonic()
    pending = list(steps)
    ecu.start()
    try:
        while not stop.is_set():
            elapsed = time.monotonic() - start
            while pending and pending[0].at <= elapsed:
                _apply(ecu, pending.pop(0), display)
            if args.seconds is not None and elapsed >= args.seconds:
                break
            display.show(ecu)
            stop.wait(REFRESH_SECONDS)
    except KeyboardInterrupt:
        pass
    finally:
        ecu.stop()
        bus.shutdown()
        display.close()
    return 0


def _apply(ecu: SimEcu, step: Step, display: Display) -> None:
    for name, value in step.settings.items():
        ecu.car.set(name, value)
    if step.broadcasting is not None:
        ecu.broadcasting = step.broadcasting
    words = [f"{k} {v}" for k, v in step.settings.items()]
    if step.broadcasting is not None:
        words.append("bus talking" if step.broadcasting else "bus quiet")
    display.note(f"scenario at {step.at:g} s: {', '.join(words)}")


def _read_commands(ecu: SimEcu, display: Display, stop: threading.Event) -> None:
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] in ("quit", "exit"):
            break
        if words[0] in ("quiet", "talk"):
            ecu.broadcasting = words[0] == "talk"
            continue
        if words == ["press"]:
            ecu.car.press()  # the steering wheel's voice button
            continue
        try:
            if len(words) != 2:
                raise ValueError(f"write NAME VALUE, e.g. speed 80 (names: {', '.join(SETTABLE)})")
            ecu.car.set(words[0], words[1])
        except ValueError as error:
            display.note(str(error))
    stop.set()


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
            self.out.write("\r\x1b[K" + status_line(ecu.car.snapshot(), ecu.broadcasting))
            self.out.flush()

    def close(self) -> None:
        if self.live:
            self.out.write("\n")


def status_line(v: dict[str, Any], broadcasting: bool) -> str:
    windows = " ".join(f"{w}:{v[f'Window{w}_Pos']:.0f}" for w in ("FL", "FR", "RL", "RR"))
    return (
        f"{v['VehicleSpeed']:5.1f} km/h {v['Gear']} | windows {windows} roof:{v['SunroofPos']:.0f} | "
        f"{'locked' if v['Locked'] else 'unlocked'} | trunk {'open' if v['TrunkOpen'] else 'shut'} | "
        f"{v['TempSetpoint']:.1f} C fan {v['FanLevel']} | {'' if broadcasting else 'BUS QUIET'}"
    )
