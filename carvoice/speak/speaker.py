"""Saying a reply: synthesise, then hand to the output, and say how long it will sound."""

from __future__ import annotations

from dataclasses import dataclass

from carvoice.speak.output import SpeechOutput
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
        try:
            file = self.output.play(samples, rate)
        except OSError as error:
            raise SpeechFailed(f"cannot play the reply: {error}") from error
        return Spoken(len(samples) / rate, file)

    def busy(self) -> bool:
        return self.output.busy()

    def close(self) -> None:
        self.output.close()
