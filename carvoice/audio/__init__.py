"""Audio in: every source yields 16 kHz mono int16 frames, whatever the hardware does."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Protocol

import numpy as np

from carvoice.errors import CarvoiceError

SAMPLE_RATE = 16000
FRAME_SAMPLES = 480  # 30 ms: short enough for a quick endpoint, long enough to be cheap


class AudioSource(Protocol):
    """Where the agent's ears are: a microphone, a recording, a test signal."""

    description: str
    realtime: bool

    def frames(self) -> Iterator[np.ndarray]:
        """Consecutive int16 frames of FRAME_SAMPLES (the last may be shorter)."""
        ...

    def close(self) -> None: ...


class AudioSourceError(CarvoiceError, RuntimeError):
    """The source cannot deliver audio (missing file, unknown device, bad format)."""


class SampleSource:
    """Samples already in memory, delivered as a microphone would: all at once, or (realtime)
    each frame only once it has been spoken, so that timing measured against it is honest."""

    def __init__(
        self,
        samples: np.ndarray,
        description: str = "audio in memory",
        realtime: bool = False,
        frame_samples: int = FRAME_SAMPLES,
    ) -> None:
        self.samples = samples
        self.description = description
        self.realtime = realtime
        self.frame_samples = frame_samples
        self.started = 0.0  # time.monotonic() when the first frame was asked for

    def frames(self) -> Iterator[np.ndarray]:
        self.started = time.monotonic()
        for start in range(0, len(self.samples), self.frame_samples):
            frame = self.samples[start : start + self.frame_samples]
            if self.realtime:
                delay = self.started + (start + len(frame)) / SAMPLE_RATE - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            yield frame

    def close(self) -> None:
        pass
