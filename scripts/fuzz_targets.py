"""Fuzz targets for scripts/fuzz: one function per decoder or parser that reads hostile input.

Each target runs in its own process under atheris (libFuzzer) for a fixed time; any
exception other than the input's documented error type is a crash, and libFuzzer saves
the input that caused it. A target checks the same invariant as the matching property
test in tests/, so a crash found here becomes a property example there.

Adding a target is one function with @target (and, if it parses text, a few tokens).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

Target = Callable[[bytes], None]
TARGETS: dict[str, Target] = {}
TOKENS: dict[str, list[str]] = {}  # libFuzzer dictionary entries that help a text parser get deep


def target(*tokens: str) -> Callable[[Target], Target]:
    def register(function: Target) -> Target:
        TARGETS[function.__name__] = function
        TOKENS[function.__name__] = list(tokens)
        return function

    return register


# -- the targets (they import carvoice lazily, so that atheris can instrument it first) -------


def _frame(data: bytes, ids: list[int]) -> Any:
    """Any CAN frame: an identifier the profile knows half of the time, any flags, 0..64 bytes."""
    import atheris
    import can

    fdp = atheris.FuzzedDataProvider(data)
    return can.Message(
        arbitration_id=fdp.PickValueInList(ids) if fdp.ConsumeBool() else fdp.ConsumeIntInRange(0, 0x1FFFFFFF),
        is_extended_id=fdp.ConsumeBool(),
        is_error_frame=fdp.ConsumeProbability() < 0.1,
        is_remote_frame=fdp.ConsumeProbability() < 0.1,
        is_fd=fdp.ConsumeBool(),
        data=fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64)),
        check=False,
    )


@target()
def vehicle_state(data: bytes) -> None:
    """VehicleState.on_frame: never raises, never keeps a value outside its signal's DBC range."""
    from carvoice.vehicle.state import VehicleState
    from tests.test_properties_vehicle import PROFILE, WATCHED, in_range

    state = VehicleState(PROFILE, clock=lambda: 0.0)
    state.on_frame(_frame(data, WATCHED))
    for name, value in state.snapshot().items():
        assert value is None or in_range(PROFILE, name, value), (name, value)


@target()
def sim_commands(data: bytes) -> None:
    """The simulated car's command decoder: any frame, and its status frames still encode."""
    from tests.test_properties_vehicle import COMMANDS

    ecu = _context()["ecu"]
    ecu.on_frame(_frame(data, COMMANDS))
    for definition in ecu.statuses:
        ecu.status_frame(definition, ecu.car.snapshot())


@target()
def frame_policy(data: bytes) -> None:
    """The gate's frame policy judges any frame without raising."""
    from carvoice.act.plan import CanFrame
    from tests.test_properties_vehicle import COMMANDS, GATE

    message = _frame(data, COMMANDS)
    GATE.foreign_frames([CanFrame(message.arbitration_id, bytes(message.data), message.is_extended_id)])


@target()
def obd_reply(data: bytes) -> None:
    """An ECU's ISO-TP payload for a PID: a value inside the PID's range, or the OBD error types."""
    import atheris

    from carvoice.vehicle import obd

    fdp = atheris.FuzzedDataProvider(data)
    pid = fdp.PickValueInList(sorted(obd.PIDS))
    payload = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64))
    try:
        body = obd.response_data(obd.SHOW_CURRENT_DATA, pid, payload)
        if body is None:
            return
        value = obd.decode(pid, body)
    except obd.ObdError:
        return
    info = obd.pid_info(pid)
    assert info.minimum - 1e-6 <= value <= info.maximum + 1e-6, (pid, value)


@target(
    "41 0D 32",
    "7E8 03 41 0D 32",
    "7E8 10 14 49 02 01",
    "7E8 21",
    "SEARCHING...",
    "NO DATA",
    "?",
    "STOPPED",
    "BUS INIT: ...ERROR",
    "CAN ERROR",
    "UNABLE TO CONNECT",
    "\r",
    " ",
)
def elm327_reply(data: bytes) -> None:
    """The ELM327's reply lines for `01 0D`: payloads or the module's error, never a crash."""
    import atheris

    from carvoice.vehicle import obd
    from carvoice.vehicle.elm327 import Elm327

    fdp = atheris.FuzzedDataProvider(data)
    adapter = Elm327("loop://")
    adapter._detected_protocol = fdp.PickValueInList(["6", "7", "3"])  # CAN 11-bit, CAN 29-bit, ISO 9141
    lines = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 200)).replace("\n", "\r").split("\r")
    try:
        payloads = adapter._payloads("010D", [line.strip() for line in lines if line.strip()])
    except obd.ObdError:
        return
    assert all(isinstance(p, bytes) for p in payloads)


@target("(", ")", "[", "]", "|", "{", "}", "<", ">", ":", "{slot}", "{a:b}", "<rule>", "word", "don't", "'s")
def template(data: bytes) -> None:
    """parse_template: a tree, or TemplateError at a column of the text."""
    from carvoice.intent.template import TemplateError, parse_template

    text = data.decode("utf-8", "replace")
    try:
        parse_template(text)
    except TemplateError as error:
        assert 0 <= error.column <= len(text), error.column


@target(" is ", " is not ", " in ", " not in ", " and ", " or ", "not ", "known", "unknown", "==", "<=", "[", "]")
def condition(data: bytes) -> None:
    """parse_condition: a condition that evaluates to a bool or raises UnknownValue, or ConditionError."""
    import atheris

    from carvoice.errors import UnknownValue
    from carvoice.profile.conditions import ConditionError, parse_condition

    fdp = atheris.FuzzedDataProvider(data)
    text = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 80))
    try:
        parsed = parse_condition(text)
    except ConditionError as error:
        assert 0 <= error.column <= len(text), error.column
        return
    values = _values(fdp)
    with contextlib.suppress(UnknownValue):
        assert isinstance(parsed.evaluate(values.get), bool)


@target("{", "}", "{speed}", "{x + 1}", "{x:.1f}", ":", " - ", ".0f", "d", ">", "%")
def placeholder(data: bytes) -> None:
    """placeholders.check, then fill: PlaceholderError at a column, or text, or UnknownValue."""
    import atheris

    from carvoice.errors import UnknownValue
    from carvoice.profile import placeholders

    fdp = atheris.FuzzedDataProvider(data)
    text = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 80))
    try:
        placeholders.check(text)
    except placeholders.PlaceholderError as error:
        assert 0 <= error.column < len(text), error.column
        return
    with contextlib.suppress(UnknownValue):
        placeholders.fill(text, _values(fdp).get)


def _values(fdp: Any) -> dict[str, Any]:
    """What a lookup might hold for any name: nothing, a number, a text."""
    values: dict[str, Any] = {}
    for _ in range(fdp.ConsumeIntInRange(0, 4)):
        name = fdp.ConsumeUnicodeNoSurrogates(6)
        kind = fdp.ConsumeIntInRange(0, 3)
        values[name] = [None, fdp.ConsumeInt(8), fdp.ConsumeFloat(), fdp.ConsumeUnicodeNoSurrogates(8)][kind]
    return values


_CONTEXT: dict[str, Any] = {}


def _context() -> dict[str, Any]:
    """Objects a target reuses between inputs (a bus is too slow to open for each)."""
    if not _CONTEXT:
        import can

        from carvoice.sim.ecu import SimEcu
        from tests.test_properties_vehicle import PROFILE

        _CONTEXT["ecu"] = SimEcu(can.Bus(interface="virtual", channel="fuzz"), PROFILE)
    return _CONTEXT


# -- running -----------------------------------------------------------------------------------


def run_child(name: str, libfuzzer_args: list[str]) -> None:
    """Inside the target's own process: instrument carvoice (and cantools), then fuzz until the budget ends."""
    import atheris

    with atheris.instrument_imports(include=["carvoice", "cantools"]):
        import carvoice.act.plan
        import carvoice.intent.template
        import carvoice.profile.conditions
        import carvoice.profile.placeholders
        import carvoice.safety.gate
        import carvoice.sim.ecu
        import carvoice.vehicle.state  # noqa: F401
    TARGETS[name](b"")  # load the profile and open buses before the clock starts
    atheris.Setup([sys.argv[0], *libfuzzer_args], TARGETS[name])
    atheris.Fuzz()


def run(name: str, seconds: int, crashes: Path, corpus: Path) -> dict[str, Any]:
    corpus.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    args = [f"-max_total_time={seconds}", "-timeout=10", f"-artifact_prefix={crashes}/{name}-", "-print_final_stats=1"]
    if TOKENS[name]:
        dictionary = corpus.parent / f"{name}.dict"
        dictionary.write_text("".join(f'"{_escape(token)}"\n' for token in TOKENS[name]))
        args.append(f"-dict={dictionary}")
    before = set(crashes.iterdir())
    started = time.monotonic()
    child = subprocess.run(
        [sys.executable, __file__, "--child", name, *args, str(corpus)], capture_output=True, text=True, check=False
    )
    elapsed = time.monotonic() - started
    log = child.stdout + child.stderr
    done = re.search(r"Done \d+ runs in (\d+) second", log)
    units = re.search(r"stat::number_of_executed_units: *(\d+)", log)
    executions = int(units.group(1)) if units else 0
    fuzzing = int(done.group(1)) if done else elapsed  # without start-up (loading the profile)
    saved = sorted(set(crashes.iterdir()) - before)
    if child.returncode != 0 and not saved:
        (crashes / f"{name}-log.txt").write_text(log)
        saved = [crashes / f"{name}-log.txt"]
    return {"target": name, "executions": executions, "seconds": round(fuzzing, 1), "crashes": saved, "log": log}


def _escape(token: str) -> str:
    return token.replace("\\", "\\\\").replace('"', '\\"')


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        run_child(sys.argv[2], sys.argv[3:])
        return 0
    parser = argparse.ArgumentParser(prog="scripts/fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", metavar="TARGET", help="default: all of them")
    parser.add_argument("--seconds", type=int, default=60, help="budget per target (default 60)")
    parser.add_argument("--crashes", type=Path, default=ROOT / "fuzz-crashes", help="where crashing inputs go")
    parser.add_argument(
        "--corpus", type=Path, default=ROOT / "fuzz-crashes" / "corpus", help="inputs kept between runs"
    )
    parser.add_argument("--list", action="store_true", help="name the targets and stop")
    options = parser.parse_args()
    if options.list:
        for name, function in TARGETS.items():
            print(f"{name:15} {(function.__doc__ or '').splitlines()[0]}")
        return 0
    unknown = [t for t in options.targets if t not in TARGETS]
    if unknown:
        parser.error(f"no target {', '.join(unknown)} (targets: {', '.join(TARGETS)})")
    failed = False
    print(f"{'target':15} {'executions':>11} {'seconds':>8} {'exec/s':>8}  crashes")
    for name in options.targets or list(TARGETS):
        result = run(name, options.seconds, options.crashes, options.corpus / name)
        rate = result["executions"] / max(result["seconds"], 0.1)
        crashes = ", ".join(str(p) for p in result["crashes"]) or "none"
        print(f"{name:15} {result['executions']:>11} {result['seconds']:>8} {rate:>8.0f}  {crashes}", flush=True)
        if result["crashes"]:
            failed = True
            lines = result["log"].strip().splitlines()
            start = next((i for i, line in enumerate(lines) if "Uncaught Python exception" in line), len(lines) - 25)
            print("    " + "\n    ".join(lines[max(start, 0) : start + 30]), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
