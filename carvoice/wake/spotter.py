"""One interface for every wake engine, and the engine a profile asks for."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from carvoice.profile.model import MICRO, Profile
from carvoice.recognise.engine import SpeechEngine


class Spotter(Protocol):
    """Hears the continuous stream; says where a wake phrase ended (absolute samples)."""

    def restart(self, position: int) -> None:
        """Listen afresh from `position`, forgetting earlier audio (after a command, after speaking)."""

    def feed(self, frame: np.ndarray) -> int | None:
        """The sample where the phrase ended, when this frame completes one."""


def spotter_for(profile: Profile, engine: SpeechEngine) -> Spotter:
    """The profile's engine: a neural model where it names one, else PocketSphinx on the shared decoder."""
    if profile.wake.engine == MICRO and profile.wake.model is not None:
        from carvoice.wake.micro import MicroSpotter

        return MicroSpotter(profile.wake.model, profile.wake.threshold)
    from carvoice.wake.detector import WakeDetector

    return WakeDetector(engine)
