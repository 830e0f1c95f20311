"""Saying a reply: synthesise, then hand to the output, and say how long it will sound."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from carvoice.speak.output import SpeechOutput
from carvoice.speak.tone import TONE_RATE, wake_tone
from carvoice.speak.tts import SpeechFailed, Synthesizer


@dataclass(frozen=True)
class Spoken:
    seconds: float
    file: str | None


class Speaker:
    def __init__(self, synthesizer: Synthesizer, output: SpeechOutput) -> None:
        self.synthesizer = synthesizer
        self.output = output

    @property
    def live(self) -> bool:
        return self.output.live

    def say(self, text: str) -> Spoken:
        """Raises SpeechFailed when nothing could be synthesised or played (a full disk, a vanished card)."""
        samples, rate = self.synthesizer.synthesize(text)
        return self._play(samples, rate)

    def tone(self) -> Spoken:
        """The wake tone, through the same output as speech; raises SpeechFailed as `say` does."""
        return self._play(wake_tone(), TONE_RATE)

    def _play(self, samples: np.ndarray, rate: int) -> Spoken:
        try:
            file = self.output.play(samples, rate)
        except OSError as error:
            raise SpeechFailed(f"cannot play the reply: {error}") from error
        return Spoken(len(samples) / rate, file)

    def busy(self) -> bool:
        return self.output.busy()

    def close(self) -> None:
        self.output.close()
