"""Where a command starts and ends, from frame energy against a tracked noise floor."""

from __future__ import annotations

import collections
import enum

import numpy as np

from carvoice.audio import FRAME_SAMPLES, SAMPLE_RATE


def frame_level_db(frame: np.ndarray) -> float:
    """Frame energy in dB relative to full scale (-100 for digital silence), over the whole band.

    Cabin rumble below 100 Hz hides the pause after a command at this level (scripts/bench: the
    endpoint seconds late in a fifth of the commands), but pre-emphasis, tried for it, took 8-10 dB
    off voiced word endings, so a 0.3 s pause in "twenty ... six" ended the command at "twenty"
    (tests/test_endpoint.py); README, "Latency, CPU and memory".
    """
    if len(frame) == 0:
        return -100.0
    power = float(np.mean(np.square(frame.astype(np.float64)))) / (32768.0**2)
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
        self.level_db = float(np.percentile(self._levels, self.percentile))
        return self.level_db


class Status(enum.Enum):
    WAITING = "waiting"  # no speech yet
    SPEECH = "speech"
    END = "end"  # speech, then enough trailing silence
    NO_SPEECH = "no_speech"  # nothing said within the listening time
    TOO_LONG = "too_long"  # speech never stopped within the maximum length


class Endpointer:
    """Decides, frame by frame, when the driver has finished the command."""

    def __init__(
        self,
        floor: NoiseFloor,
        trailing_silence: float = 0.6,
        listen_seconds: float = 5.0,
        max_seconds: float = 7.0,
        speech_margin_db: float = 12.0,
        silence_margin_db: float = 7.0,
        min_speech_seconds: float = 0.12,
    ) -> None:
        self.floor = floor
        seconds_per_frame = FRAME_SAMPLES / SAMPLE_RATE
        self._seconds_per_frame = seconds_per_frame
        self._trailing = self._usual_trailing = round(trailing_silence / seconds_per_frame)
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

    def hold(self, silence_seconds: float) -> None:
        """After an END: this pause ends the command only once it has lasted `silence_seconds`, unless
        speech resumes first (the words so far may be only the start of the command). Speech is a loud
        run as long as the one that starts a command: a click alone does not end the hold."""
        self._trailing = max(self.quiet_run + 1, round(silence_seconds / self._seconds_per_frame))
        self.holding = True

    def feed(self, level: float) -> Status:
        """One frame's level (the caller keeps the noise floor up to date)."""
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
        return Status.SPEECH
