"""Audio in: every source yields 16 kHz mono int16 frames, whatever the hardware does."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
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


class PacedSource:
    """A source that delivers frames as a microphone would: all at once, or (realtime) each frame
    only once it has been spoken, so that timing measured against it is honest."""

    def __init__(self, description: str, realtime: bool = False, frame_samples: int = FRAME_SAMPLES) -> None:
        self.description = description
        self.realtime = realtime
        self.frame_samples = frame_samples
        self.started = 0.0  # time.monotonic() when the first frame was asked for

    def frames(self) -> Iterator[np.ndarray]:
        return self._paced(self._frames())

    def _frames(self) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def _paced(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        self.started = time.monotonic()
        delivered = 0
        for frame in frames:
            delivered += len(frame)
            if self.realtime:
                delay = self.started + delivered / SAMPLE_RATE - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            yield frame

    def close(self) -> None:
        pass


class SampleSource(PacedSource):
    """Samples already in memory, as a source (tests, evaluation, generated drives)."""

    def __init__(
        self,
        samples: np.ndarray,
        description: str = "audio in memory",
        realtime: bool = False,
        frame_samples: int = FRAME_SAMPLES,
    ) -> None:
        super().__init__(description, realtime, frame_samples)
        self.samples = samples

    def _frames(self) -> Iterator[np.ndarray]:
        for start in range(0, len(self.samples), self.frame_samples):
            yield self.samples[start : start + self.frame_samples]
