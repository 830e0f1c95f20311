"""Text to speech with pyttsx3 and espeak-ng, always into memory first.

pyttsx3's own playback shells out to `aplay`, never reports failure and, after a
save_to_file, can overwrite the previous file instead of playing. Synthesising
to a file and playing it ourselves avoids all three.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import wave
from typing import Any

import numpy as np

from carvoice.errors import CarvoiceError


class SpeechFailed(CarvoiceError, RuntimeError):
    """Speech could not be synthesised (no espeak-ng, a broken voice, ...)."""


class _Engine:
    """pyttsx3 hands out one engine per driver per process; every Synthesizer shares it, one at a time."""

    lock = threading.Lock()
    engine: Any = None
    finished = threading.Event()

    @classmethod
    def get(cls) -> Any:
        if cls.engine is None:
            import pyttsx3

            try:
                cls.engine = pyttsx3.init("espeak")
            except Exception as error:  # pyttsx3 raises whatever its driver raised
                raise SpeechFailed(f"cannot start espeak-ng through pyttsx3: {error}") from error
            cls.engine.connect("finished-utterance", lambda name, completed: cls.finished.set())
            cls.quiet_driver()
        return cls.engine

    @staticmethod
    def quiet_driver() -> None:
        """The espeak driver print()s "Audio saved to ..." for every file, from espeak-ng's thread and
        so at any moment; its module gets a print that logs instead (the event stream keeps stdout for
        itself anyway, events.claim_stdout)."""
        from pyttsx3.drivers import espeak

        log = logging.getLogger("carvoice.speak.pyttsx3")
        espeak.print = lambda *values, **_: log.debug(" ".join(map(str, values)))


class Synthesizer:
    def __init__(self, voice: str | None = None, rate: int | None = None) -> None:
        self.voice = voice
        self.rate = rate

    def synthesize(self, text: str) -> tuple[np.ndarray, int]:
        """Samples (int16 mono) and their rate."""
        with _Engine.lock:
            engine = _Engine.get()
            self._configure(engine)
            for _ in range(2):  # the driver now and then delivers an empty file; once more is enough
                samples, rate = self._once(engine, text)
                if len(samples):
                    return samples, rate
        raise SpeechFailed(f"speech synthesis produced no audio for {text!r}")

    def _configure(self, engine: Any) -> None:
        voices = engine.getProperty("voices")
        if self.voice:
            if self.voice not in {v.id for v in voices} | {v.name for v in voices}:
                raise SpeechFailed(f"no voice {self.voice!r} (espeak-ng --voices lists them)")
            engine.setProperty("voice", self.voice)
        if self.rate:
            engine.setProperty("rate", self.rate)

    def _once(self, engine: Any, text: str) -> tuple[np.ndarray, int]:
        handle, path = tempfile.mkstemp(suffix=".wav", prefix="carvoice-tts-")
        os.close(handle)
        try:
            _Engine.finished.clear()
            engine.save_to_file(text, path)
            engine.runAndWait()
            if not _Engine.finished.wait(10.0):
                raise SpeechFailed("espeak-ng did not finish within 10 s")
            with wave.open(path, "rb") as wav:
                return np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16), wav.getframerate()
        except (OSError, wave.Error, EOFError) as error:
            raise SpeechFailed(f"speech synthesis failed: {error}") from error
        finally:
            os.unlink(path)
