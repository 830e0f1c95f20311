"""Recordings as an audio source: any PCM WAV, converted to 16 kHz mono int16."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from carvoice.audio import FRAME_SAMPLES, SAMPLE_RATE, AudioSourceError, SampleSource


def read_wav(path: Path | str) -> np.ndarray:
    """The whole file as 16 kHz mono int16; other rates, widths and channel counts are converted."""
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            raw = wav.readframes(wav.getnframes())
    except FileNotFoundError:
        raise AudioSourceError(f"{path}: no such file") from None
    except (wave.Error, EOFError, OSError) as error:
        raise AudioSourceError(f"{path}: not a PCM WAV file ({error})") from None
    if width not in (1, 2, 3, 4):
        raise AudioSourceError(f"{path}: {8 * width}-bit samples are not supported")
    samples = _to_float(raw, width).reshape(-1, channels).mean(axis=1)
    if rate != SAMPLE_RATE:
        samples = resample(samples, rate, SAMPLE_RATE)
    return np.clip(np.round(samples * 32768.0), -32768, 32767).astype(np.int16)


def write_wav(path: Path | str, samples: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(np.asarray(samples, dtype=np.int16).tobytes())


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Band-limited resampling in the frequency domain (whole recordings, not streams)."""
    if len(samples) == 0:
        return samples
    length = max(1, round(len(samples) * target / rate))
    spectrum = np.fft.rfft(samples)
    kept = min(len(spectrum), length // 2 + 1)
    out = np.zeros(length // 2 + 1, dtype=complex)
    out[:kept] = spectrum[:kept]
    return np.fft.irfft(out, n=length) * (length / len(samples))


def _to_float(raw: bytes, width: int) -> np.ndarray:
    if width == 1:
        return (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    if width == 3:
        bytes3 = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)
        as_int = (
            bytes3[:, 0].astype(np.int32) | (bytes3[:, 1].astype(np.int32) << 8) | (bytes3[:, 2].astype(np.int32) << 16)
        )
        as_int = np.where(as_int >= 1 << 23, as_int - (1 << 24), as_int)
        return as_int / float(1 << 23)
    dtype = np.int16 if width == 2 else np.int32
    return np.frombuffer(raw, dtype=dtype).astype(np.float64) / float(1 << (8 * width - 1))


class FileSource(SampleSource):
    """A recording played as if it were the microphone: as fast as possible, or paced in real time."""

    def __init__(self, path: Path | str, realtime: bool = False, frame_samples: int = FRAME_SAMPLES) -> None:
        self.path = Path(path)
        super().__init__(read_wav(self.path), f"recording {self.path}", realtime, frame_samples)
