"""Synthetic speech for tests, evaluation sets and the demo recording (espeak-ng and flite).

Synthetic voices are clean in a way no microphone is: digital silence between
words hurts PocketSphinx, so everything made here gets a faint noise floor.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

from carvoice.audio import SAMPLE_RATE
from carvoice.audio.noise import noise_floor
from carvoice.audio.wavfile import resample
from carvoice.errors import CarvoiceError

ESPEAK_VOICES = ("en-us", "en-us+m3", "en-us+f3", "en-gb", "en-us+m7")
FLITE_VOICES = ("slt", "kal16", "rms", "awb")
NOISE_FLOOR_DB = -65.0
DEFAULT_SPEED = 160  # words a minute (espeak-ng; flite voices have their own pace)


class SynthesisUnavailable(CarvoiceError, RuntimeError):
    pass


def speech(text: str, voice: str = "en-us", speed: int = DEFAULT_SPEED) -> np.ndarray:
    """`voice` is an espeak-ng voice, or flite:NAME for a flite voice. 16 kHz float in -1..1."""
    if voice.startswith("flite:"):
        raw = _flite(text, voice.removeprefix("flite:"))
    else:
        raw = _run(["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text])
    with wave.open(io.BytesIO(raw), "rb") as wav:
        rate = wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16).astype(np.float64) / 32768.0
    return resample(samples, rate, SAMPLE_RATE) if rate != SAMPLE_RATE else samples


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * SAMPLE_RATE))


def with_noise_floor(samples: np.ndarray, seed: int = 0, level_db: float = NOISE_FLOOR_DB) -> np.ndarray:
    """int16 audio with a faint white noise floor, as a real microphone would give."""
    noisy = samples * 32768.0 + noise_floor(len(samples), level_db, seed)
    return np.clip(np.round(noisy), -32768, 32767).astype(np.int16)


def utterance(
    text: str, voice: str = "en-us", speed: int = DEFAULT_SPEED, lead: float = 0.5, trail: float = 0.8, seed: int = 0
) -> np.ndarray:
    """One utterance with room around it, ready to decode (int16)."""
    return with_noise_floor(np.concatenate([silence(lead), speech(text, voice, speed), silence(trail)]), seed)


def _run(command: list[str]) -> bytes:
    if shutil.which(command[0]) is None:
        raise SynthesisUnavailable(f"{command[0]} is not installed (scripts/setup installs it)")
    return subprocess.run(command, check=True, capture_output=True).stdout


def _flite(text: str, voice: str) -> bytes:
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory) / "out.wav"
        _run(["flite", "-voice", voice, "-t", text, "-o", str(out)])
        return out.read_bytes()
