"""Recordings as an audio source: WAV and FLAC through libsndfile (soundfile), resampled by soxr.

A file's header is checked before a sample is read: a header that lies (1 Hz, no channels, a
format that is not PCM) is a one-line error naming the file, not a traceback or gigabytes of
memory. The samples are then read, mixed down and resampled in blocks, so memory follows the
real length of the recording, never what the header claims.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile

from carvoice.audio import FRAME_SAMPLES, SAMPLE_RATE, AudioSourceError, PacedSource

FORMATS = {"WAV": "WAV", "WAVEX": "WAV (extensible)", "FLAC": "FLAC"}
SUBTYPES = ("PCM_U8", "PCM_S8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE")
RATES = (8000, 192000)  # Hz, both included
MAX_CHANNELS = 8
MAX_SECONDS = 3 * 3600  # of audio in one file; longer recordings are cut into parts first
BLOCK_FRAMES = 1 << 16


def read_wav(path: Path | str) -> np.ndarray:
    """The whole file as 16 kHz mono int16: 8-192 kHz, 1-8 channels, integer or float, WAV or FLAC."""
    path = Path(path)
    with _reading(path) as sound:
        return np.concatenate(list(_blocks_16k_mono(path, sound)))


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[soundfile.SoundFile]:
    """The open file, its header checked; any failure while it is read is a one-line error naming it."""
    if not path.exists():
        raise AudioSourceError(f"{path}: no such file")
    try:
        with soundfile.SoundFile(str(path)) as sound:
            _check(path, sound)
            yield sound
    except AudioSourceError:
        raise
    except (soundfile.LibsndfileError, RuntimeError, OSError, ValueError) as error:
        reason = str(error).replace(f"Error opening {str(path)!r}: ", "").strip().rstrip(".")
        raise AudioSourceError(f"{path}: not a WAV or FLAC file carvoice can read ({reason})") from None


def _check(path: Path, sound: soundfile.SoundFile) -> None:
    if sound.format not in FORMATS:
        raise AudioSourceError(f"{path}: a {sound.format} file; carvoice reads WAV and FLAC")
    if sound.subtype not in SUBTYPES:
        raise AudioSourceError(f"{path}: {sound.subtype} samples; carvoice reads integer and float PCM")
    if not RATES[0] <= sound.samplerate <= RATES[1]:
        raise AudioSourceError(
            f"{path}: the header says {sound.samplerate} Hz; carvoice reads {RATES[0] // 1000}-{RATES[1] // 1000} kHz"
        )
    if not 1 <= sound.channels <= MAX_CHANNELS:
        raise AudioSourceError(f"{path}: the header says {sound.channels} channels; carvoice reads 1-{MAX_CHANNELS}")


def _blocks_16k_mono(path: Path, sound: soundfile.SoundFile) -> Iterator[np.ndarray]:
    """The samples in blocks of 16 kHz mono int16 (the last may be empty).

    A 16 kHz file goes around the resampler, which would hand it back unchanged and hold 0.8 MB
    of buffers for it all the while `carvoice run --audio` plays; soxr is then not even loaded
    (0.4 MB), as on a head unit, whose microphone gives 16 kHz."""
    stream = None
    if sound.samplerate != SAMPLE_RATE:
        import soxr

        stream = soxr.ResampleStream(sound.samplerate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
    length = 0
    for block in sound.blocks(blocksize=BLOCK_FRAMES, dtype="float32", always_2d=True):
        mono = block.mean(axis=1)
        piece = _as_int16(mono if stream is None else stream.resample_chunk(mono))
        length += len(piece)
        if length > MAX_SECONDS * SAMPLE_RATE:
            raise AudioSourceError(f"{path}: longer than {MAX_SECONDS // 3600} hours; cut it into parts")
        yield piece
    if stream is not None:
        yield _as_int16(stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True))


def _as_int16(samples: np.ndarray) -> np.ndarray:
    return np.clip(np.round(samples * 32768.0), -32768, 32767).astype(np.int16)


def write_wav(path: Path | str, samples: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    """16-bit mono WAV; a file that cannot be written is an OSError, as for any other file."""
    try:
        soundfile.write(str(path), np.asarray(samples, dtype=np.int16), rate, subtype="PCM_16", format="WAV")
    except soundfile.LibsndfileError as error:
        raise OSError(f"{path}: cannot write the WAV file ({error.error_string})") from None


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Band-limited resampling of a whole signal (soxr's high quality)."""
    if len(samples) == 0 or rate == target:
        return samples
    import soxr

    return soxr.resample(np.asarray(samples, dtype=np.float64), rate, target, quality="HQ")


class FileSource(PacedSource):
    """A recording played as if it were the microphone: as fast as possible, or paced in real time.

    It is read block by block as it plays, so a long recording costs no more memory than a short
    one (held whole, `scripts/bench`'s 256 s drive raised the daemon's peak RSS from 85.6 to 91.9
    MB); the header is checked at once, so a bad file fails before the agent starts.
    """

    def __init__(self, path: Path | str, realtime: bool = False, frame_samples: int = FRAME_SAMPLES) -> None:
        self.path = Path(path)
        with _reading(self.path):
            pass
        super().__init__(f"recording {self.path}", realtime, frame_samples)

    def _frames(self) -> Iterator[np.ndarray]:
        pending = np.zeros(0, dtype=np.int16)
        with _reading(self.path) as sound:
            for piece in _blocks_16k_mono(self.path, sound):
                pending = np.concatenate([pending, piece])
                whole = len(pending) - len(pending) % self.frame_samples
                for start in range(0, whole, self.frame_samples):
                    yield pending[start : start + self.frame_samples]
                pending = pending[whole:]
        if len(pending):
            yield pending
