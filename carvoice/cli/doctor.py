"""carvoice doctor: the installer's checklist on the unit; every line passes or says what to do."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from carvoice.check import load_profile
from carvoice.cli._common import add_profile_option, profile_dir
from carvoice.profile.loader import profile_digest
from carvoice.profile.model import Profile, ProfileError, SerialPortSettings


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str  # what was found, or what to do


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("doctor", help="check the unit: microphone, speaker, CAN, serial, profile, service")
    add_profile_option(parser)
    parser.add_argument(
        "--listen",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="how long to listen to the microphone and to the CAN bus (default 2)",
    )
    parser.add_argument("--runtime-dir", metavar="DIR", help="the service's status.json folder (default /run/carvoice)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = profile_dir(args.profile)
    checks: list[Check] = []
    profile = None
    try:
        profile = load_profile(path)
        checks.append(Check("profile", True, f"{profile.name!r} from {path}"))
    except ProfileError as error:
        first = str(error).splitlines()[0] if str(error) else "problems"
        checks.append(Check("profile", False, f"{path}: {first} ... run `carvoice check {path}` for the list"))
    runtime = Path(args.runtime_dir) if args.runtime_dir else None
    checks.append(service(path, runtime))
    if profile is None:
        checks.append(Check("devices", False, "not checked: the profile must load first (it names the devices)"))
    else:
        checks += [microphone(profile, args.listen), speaker(profile), can_bus(profile, args.listen)]
        checks += [serial_port(port) for port in profile.serial.values()]
    width = max(len(c.name) for c in checks)
    for check in checks:
        print(f"{'PASS' if check.ok else 'FAIL'}  {check.name:<{width}}  {check.detail}", flush=True)
    failed = sum(not c.ok for c in checks)
    print(f"{len(checks) - failed} of {len(checks)} checks passed")
    return 1 if failed else 0


def _guarded(name: str, probe: Callable[[], Check], advice: str) -> Check:
    """A probe that raised becomes a failed line with the error and the advice."""
    try:
        return probe()
    except Exception as error:
        return Check(name, False, f"{error} ({advice})")


def service(path: Path, runtime: Path | None) -> Check:
    from carvoice.bundle.unit import Daemon
    from carvoice.service import runtime_dir

    daemon = Daemon(runtime or runtime_dir())
    pid = daemon.pid()
    if pid is None:
        return Check(
            "service",
            False,
            f"not running (no live pid in {daemon.runtime_dir / 'status.json'}): "
            "`systemctl status carvoice`, `journalctl -u carvoice -n 50`",
        )
    status = daemon.status() or {}
    if status.get("reload_error"):
        return Check(
            "service",
            False,
            f"pid {pid} kept its old profile, the last reload failed: "
            f"{status['reload_error']} (fix the profile, `systemctl reload carvoice`)",
        )
    try:
        current = profile_digest(path.resolve())
    except OSError:
        current = None
    if status.get("profile_digest") != current:
        return Check(
            "service",
            False,
            f"pid {pid} runs {status.get('profile')}, not {path.resolve()}: `systemctl reload carvoice`",
        )
    return Check("service", True, f"running, pid {pid}, profile {status.get('profile_name')!r}")


def microphone(profile: Profile, seconds: float) -> Check:
    def probe() -> Check:
        from carvoice.audio.microphone import MicrophoneSource

        source = MicrophoneSource(profile.audio.input)
        try:
            frames, heard = source.frames(), []
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                heard.append(next(frames))
        finally:
            source.close()
        samples = np.concatenate(heard).astype(np.float64) / 32768.0
        if not np.any(samples):
            return Check(
                "microphone",
                False,
                f"{source.description} gives only digital silence: unmuted? "
                "capture level up? (`alsamixer -c CarMic`, F4)",
            )
        level = 20 * np.log10(max(float(np.sqrt(np.mean(samples**2))), 1e-10))
        return Check(
            "microphone",
            True,
            f"{source.description}, hearing sound at {level:.0f} dBFS (speak or clap: it should rise)",
        )

    return _guarded(
        "microphone",
        probe,
        "plug in the USB microphone; `arecord -l` lists it; hw/asound.conf, [audio] input in the profile",
    )


def speaker(profile: Profile) -> Check:
    def probe() -> Check:
        from carvoice.speak.output import SpeakerOutput

        output = SpeakerOutput(profile.audio.output)
        output.close()
        return Check("speaker", True, f"output device #{output.device_index}")

    return _guarded("speaker", probe, "`aplay -l` lists the cards; hw/asound.conf, [audio] output in the profile")


def can_bus(profile: Profile, seconds: float) -> Check:
    interface, channel = profile.can.interface, profile.can.channel
    name = f"CAN {channel}"
    if interface == "socketcan":
        problem = _socketcan_state(channel, profile.can.bitrate)
        if problem:
            return Check(name, False, problem)

    def probe() -> Check:
        import can

        with can.Bus(interface=interface, channel=channel) as bus:
            count, deadline = 0, time.monotonic() + seconds
            while (left := deadline - time.monotonic()) > 0:
                if bus.recv(timeout=left) is not None:
                    count += 1
        if count == 0:
            return Check(
                name,
                False,
                f"up ({interface}), but no frames in {seconds:g} s: ignition on? CAN-H/CAN-L "
                "swapped? bus terminated? bitrate right?",
            )
        return Check(name, True, f"up ({interface}), {count} frames in {seconds:g} s")

    return _guarded(name, probe, f"the profile's [can] interface {interface!r}, channel {channel!r}")


def _socketcan_state(channel: str, bitrate: int | None) -> str | None:
    """Why a SocketCAN interface cannot work (missing, down, wrong bitrate), or None."""
    flags = Path(f"/sys/class/net/{channel}/flags")
    if not flags.exists():
        return (
            f"no interface {channel}: for a CAN HAT check the overlay in config.txt and `dmesg | grep mcp251x`; "
            "for a USB adapter, hw/99-carvoice.rules (hw/README.md)"
        )
    if not int(flags.read_text(), 16) & 0x1:  # IFF_UP
        return f"{channel} is down: `networkctl up {channel}` (hw/80-can.network) or `ip link set {channel} up`"
    try:
        shown = subprocess.run(["ip", "-details", "-json", "link", "show", channel], capture_output=True, text=True)
        info = json.loads(shown.stdout)[0].get("linkinfo", {}).get("info_data", {})
    except (OSError, ValueError, IndexError):
        return None
    running = info.get("bittiming", {}).get("bitrate")
    if bitrate and running and running != bitrate:
        return f"{channel} runs at {running} bit/s, the profile's bus at {bitrate}: set BitRate= in 80-can.network"
    return None


def serial_port(port: SerialPortSettings) -> Check:
    name = f"serial {port.name}"
    if port.url.startswith("/"):
        device = Path(port.url)
        if not device.exists():
            return Check(
                name, False, f"{device} is missing: plug in the adapter; its udev rule (hw/99-carvoice.rules) names it"
            )
        if not os.access(device, os.R_OK | os.W_OK):
            return Check(
                name,
                False,
                f"{device}: no permission; the service user needs the device's group "
                "(carvoice, via hw/99-carvoice.rules)",
            )

    def probe() -> Check:
        import serial

        import carvoice.act.serial  # noqa: F401  (registers relayboard://)

        serial.serial_for_url(port.url, baudrate=port.baudrate, timeout=0.05).close()
        return Check(name, True, f"{port.url} opens")

    return _guarded(name, probe, f"[serial.{port.name}] url in the profile")
