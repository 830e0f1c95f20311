"""Finding PortAudio devices by the name or index an installer wrote in the profile."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from carvoice.audio import AudioSourceError


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """ALSA and JACK print dozens of harmless probe errors when PortAudio starts."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def open_pyaudio() -> Any:
    import pyaudio

    with _quiet_stderr():
        return pyaudio.PyAudio()


def list_devices(pa: Any, output: bool = False) -> list[tuple[int, str]]:
    key = "maxOutputChannels" if output else "maxInputChannels"
    devices = []
    for index in range(pa.get_device_count()):
        info = pa.get_device_info_by_index(index)
        if info.get(key, 0) > 0:
            devices.append((index, str(info.get("name", ""))))
    return devices


def find_device(pa: Any, spec: str | int | None, output: bool = False) -> int:
    """The device index for a name fragment, an index, or the system default (None)."""
    kind = "output" if output else "input"
    devices = list_devices(pa, output)
    available = "; ".join(f"{i}: {name}" for i, name in devices) or "none"
    if spec is None or spec == "default":
        try:
            info = pa.get_default_output_device_info() if output else pa.get_default_input_device_info()
        except OSError:
            raise AudioSourceError(f"no default audio {kind} device (available: {available})") from None
        return int(info["index"])
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit()):
        index = int(spec)
        if index not in [i for i, _ in devices]:
            raise AudioSourceError(f"no audio {kind} device with index {index} (available: {available})")
        return index
    matches = [i for i, name in devices if spec.lower() in name.lower()]
    if not matches:
        raise AudioSourceError(f"no audio {kind} device named like {spec!r} (available: {available})")
    return matches[0]
