"""A cabin without hardware: a user-mode PulseAudio server with a FIFO-fed virtual microphone.

The microphone plays whatever the test queues, paced in real time, and a faint
noise floor in between (with no writer, a read on the source would block for
ever). The agent's replies go to a null sink whose monitor the test can record.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np

from carvoice.audio.synth import with_noise_floor

CHUNK = 320  # 20 ms


class VirtualCabin:
    """`echo=True` plays the microphone into the speaker and records the speaker's monitor, so the
    agent hears the driver and its own voice together, as a cabin microphone does."""

    def __init__(self, directory: Path, echo: bool = False) -> None:
        self.directory = directory
        self.fifo = directory / "mic.fifo"
        self.socket = directory / "native"
        self._queue: queue.Queue[np.ndarray] = queue.Queue()
        self._stop = threading.Event()
        environment = dict(os.environ, XDG_RUNTIME_DIR=str(directory), HOME=str(directory))
        self.environment = {"PULSE_SERVER": f"unix:{self.socket}", "XDG_RUNTIME_DIR": str(directory)}
        self.server = subprocess.Popen(
            [
                shutil.which("pulseaudio") or "pulseaudio",
                "-n",
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--use-pid-file=no",
                "--disallow-exit",
                "-L",
                f"module-native-protocol-unix auth-anonymous=1 socket={self.socket}",
                "-L",
                "module-null-sink sink_name=speaker",
                "-L",
                f"module-pipe-source source_name=mic file={self.fifo} format=s16le rate=16000 channels=1",
                "-L",
                "module-always-sink",
            ],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not (self.socket.exists() and self.fifo.exists()):
            if time.monotonic() > deadline or self.server.poll() is not None:
                self.close()
                raise RuntimeError("PulseAudio did not start")
            time.sleep(0.05)
        pactl = {**environment, **self.environment}
        if echo:
            subprocess.run(
                ["pactl", "load-module", "module-loopback", "source=mic", "sink=speaker", "latency_msec=20"],
                env=pactl,
                check=True,
                stdout=subprocess.DEVNULL,
            )
        subprocess.run(["pactl", "set-default-source", "speaker.monitor" if echo else "mic"], env=pactl, check=True)
        subprocess.run(["pactl", "set-default-sink", "speaker"], env=pactl, check=True)
        self._writer = threading.Thread(target=self._write, daemon=True)
        self._writer.start()

    def say(self, samples: np.ndarray) -> None:
        """Queue audio for the microphone; it is heard in real time after what is queued already."""
        self._queue.put(samples)

    def _write(self) -> None:
        idle = with_noise_floor(np.zeros(CHUNK), seed=1)
        with open(self.fifo, "wb", buffering=0) as fifo:
            started = time.monotonic()
            written = 0
            pending = np.zeros(0, dtype=np.int16)
            while not self._stop.is_set():
                if len(pending) == 0:
                    try:
                        pending = self._queue.get_nowait()
                    except queue.Empty:
                        pending = idle
                chunk, pending = pending[:CHUNK], pending[CHUNK:]
                try:
                    fifo.write(chunk.astype(np.int16).tobytes())
                except (BrokenPipeError, OSError):
                    return
                written += len(chunk)
                delay = started + written / 16000 - time.monotonic()
                if delay > 0:
                    time.sleep(delay)

    def close(self) -> None:
        self._stop.set()
        self.server.terminate()
        try:
            self.server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.server.kill()
