"""Where a command starts and ends, from frame energy against a tracked noise floor."""

from __future__ import annotations

import collections
import enum

import numpy as np

from carvoice.audio import FRAME_SAMPLES, SAMPLE_RATE
from carvoice.audio.noise import SPEECH_BAND, BandPower, percentile

# Each level is measured over this frame and the one before, through a Hann window: the window
# weighs every sample of the newest frame (a 30 ms window weighs mostly the middle of its frame, and
# missed the end of speech in a whine or a whistle), and its main lobe (+-33 Hz) is narrow enough
# to keep 45-80 Hz rumble out of the band, which a 30 ms window could not.
WINDOW_SAMPLES = 2 * FRAME_SAMPLES


class SpeechBandLevel:
    """Frame levels in dB relative to full scale in the speech band (100-4000 Hz), -100 for silence.

    Cabin rumble lies mostly below 100 Hz (5 % of a real cabin's power is in the speech band); a
    level over the whole band heard it as speech, so the pause after a command went unnoticed and
    a fifth of scripts/bench's commands ended seconds late. Pre-emphasis, tried for the same,
    took 8-10 dB off voiced word endings and ended "twenty ... six" at "twenty"
    (tests/test_endpoint.py); README, "Latency, CPU and memory".
    """

    def __init__(self, band: tuple[float, float] = SPEECH_BAND) -> None:
        self._recent = np.zeros(WINDOW_SAMPLES)
        self._power = BandPower(WINDOW_SAMPLES, band, np.hanning(WINDOW_SAMPLES))

    def __call__(self, samples: np.ndarray) -> float:
        """The level of the window that ends with `samples` (a frame, or the end of one)."""
        if len(samples) == 0:
            return -100.0
        self._recent = np.concatenate([self._recent, samples.astype(np.float64)])[-WINDOW_SAMPLES:]
        power = float(self._power(self._recent)) / 32768.0**2  # relative to full scale
        return max(-100.0, 10.0 * np.log10(power + 1e-12))


class NoiseFloor:
    """The background level: a low percentile of the last few seconds of frame levels.

    Speech always has pauses between words, so the quiet end of a few seconds
    follows the cabin noise (engine, road, fan) and not the talking.
    """

    def __init__(self, window_seconds: float = 3.0, percentile: float = 10.0, initial_db: float = -60.0) -> None:
        self._levels: collections.deque[float] = collections.deque(
            maxlen=max(1, round(window_seconds * SAMPLE_RATE / FRAME_SAMPLES))
        )
        self.percentile = percentile
        self.level_db = initial_db

    def update(self, level_db: float) -> float:
        self._levels.append(level_db)
        self.level_db = percentile(self._levels, self.percentile)
        return self.level_db


class Status(enum.Enum):
    WAITING = "waiting"  # no speech yet
    SPEECH = "speech"
    PAUSE = "pause"  # speech, then a short silence: time to judge the words so far ahead of the END
    END = "end"  # speech, then enough trailing silence
    NO_SPEECH = "no_speech"  # nothing said within the listening time
    TOO_LONG = "too_long"  # speech never stopped within the maximum length


class Endpointer:
    """Decides, frame by frame, when the driver has finished the command."""

    def __init__(
        self,
        floor: NoiseFloor,
        trailing_silence: float = 0.6,
        short_pause: float | None = None,
        listen_seconds: float = 5.0,
        max_seconds: float = 7.0,
        speech_margin_db: float = 12.0,
        silence_margin_db: float = 7.0,
        min_speech_seconds: float = 0.12,
    ) -> None:
        self.floor = floor
        seconds_per_frame = FRAME_SAMPLES / SAMPLE_RATE
        self._seconds_per_frame = seconds_per_frame
        self._trailing = self._usual_trailing = max(1, round(trailing_silence / seconds_per_frame))
        # None, or not shorter than the trailing silence: no PAUSE is told (END comes first)
        self._short = max(1, round(short_pause / seconds_per_frame)) if short_pause is not None else None
        self.holding = False  # waiting longer in this pause (hold)
        self._listen = round(listen_seconds / seconds_per_frame)
        self._max = round(max_seconds / seconds_per_frame)
        self._min_speech = max(1, round(min_speech_seconds / seconds_per_frame))
        self.speech_margin_db = speech_margin_db
        self.silence_margin_db = silence_margin_db
        self.frames = 0
        self.loud_run = 0
        self.quiet_run = 0
        self.speech_start: int | None = None
        self.speech_end: int | None = None
        self.holds = 0  # pauses held so far in this command

    @property
    def listening_left(self) -> float:
        """Seconds of the listening time (`listen_seconds`) not yet spent."""
        return max(0, self._listen - self.frames) * self._seconds_per_frame

    def hold(self, silence_seconds: float) -> None:
        """After an END: this pause ends the command only once it has lasted `silence_seconds`, unless
        speech resumes first (the words so far may be only the start of the command). Speech is a loud
        run as long as the one that starts a command: a click alone does not end the hold."""
        self._trailing = max(self.quiet_run + 1, round(silence_seconds / self._seconds_per_frame))
        self.holding = True
        self.holds += 1

    def feed(self, level: float) -> Status:
        """One frame's level (the caller keeps the noise floor up to date). A pause that reaches the
        short pause is told once, as PAUSE, before it may reach the trailing silence (END)."""
        self.frames += 1
        floor = self.floor.level_db
        if self.speech_start is None:
            self.loud_run = self.loud_run + 1 if level > floor + self.speech_margin_db else 0
            if self.loud_run >= self._min_speech:
                self.speech_start = self.frames - self.loud_run
                return Status.SPEECH
            return Status.NO_SPEECH if self.frames >= self._listen else Status.WAITING
        if level < floor + self.silence_margin_db:
            self.quiet_run += 1
            self.loud_run = 0
        else:
            self.loud_run += 1
            if self.holding and self.loud_run < self._min_speech:
                self.quiet_run += 1  # a click in a held pause is not the driver going on
            else:
                self.quiet_run = 0
                self._trailing, self.holding = self._usual_trailing, False
        if self.quiet_run >= self._trailing:
            self.speech_end = self.frames - self.quiet_run
            return Status.END
        if self.frames - self.speech_start >= self._max:
            self.speech_end = self.frames
            return Status.TOO_LONG
        if not self.holding and self.quiet_run == self._short:
            return Status.PAUSE
        return Status.SPEECH
