"""Audio in: every source yields 16 kHz mono int16 frames, whatever the hardware does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np

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


class AudioSourceError(RuntimeError):
    """The source cannot deliver audio (missing file, unknown device, bad format)."""
