"""Keyphrase spotting on the streaming audio."""

from __future__ import annotations

import numpy as np

from carvoice.audio import SAMPLE_RATE
from carvoice.recognise.engine import WAKE, SpeechEngine

SAMPLES_PER_DECODER_FRAME = SAMPLE_RATE // 100
# Hits accumulate inside one utterance and a very long one slows the search, so the
# utterance is restarted this often, replaying a little audio so that a phrase spanning
# the restart is not lost.
RESTART_SECONDS = 30.0
REPLAY_SECONDS = 1.5


class WakeDetector:
    """Feeds audio to the keyphrase search; reports where each spotted phrase ended.

    `feed` is the daemon's: the first hit stops the search (the agent then listens for
    a command). `feed_all` keeps listening and reports every keyphrase of the search,
    for an evaluation that sweeps many thresholds in one pass.
    """

    def __init__(self, engine: SpeechEngine, search: str = WAKE) -> None:
        self.engine = engine
        self.search = search
        self._utterance_start = 0  # absolute sample where the current utterance began
        self._position = 0  # absolute sample after the last fed frame
        self._recent = np.zeros(0, dtype=np.int16)
        self._reported = 0  # detections of this utterance already returned by feed_all
        self._last_end: dict[str, int] = {}  # per keyphrase, so a replayed phrase is not counted twice

    def restart(self, position: int) -> None:
        """Listen afresh from `position` (absolute samples), forgetting earlier audio."""
        self.engine.start(self.search)
        self._utterance_start = self._position = position
        self._recent = np.zeros(0, dtype=np.int16)
        self._reported = 0

    def feed(self, frame: np.ndarray) -> int | None:
        """The absolute sample where the wake phrase ended, when this frame completes one."""
        self._take(frame)
        if self.engine.partial() is not None:
            segments = self.engine.segments()
            end_frame = segments[-1].end_frame + 1 if segments else self.engine.frames_fed // SAMPLES_PER_DECODER_FRAME
            end = self._utterance_start + end_frame * SAMPLES_PER_DECODER_FRAME
            self.engine.stop()
            return min(end, self._position)
        self._keep_short()
        return None

    def feed_all(self, frame: np.ndarray) -> list[tuple[str, int]]:
        """Every keyphrase this frame completed, with the absolute sample where it ended."""
        self._take(frame)
        found = []
        segments = self.engine.segments()
        for segment in segments[self._reported :]:
            phrase = segment.word.strip()
            end = self._utterance_start + (segment.end_frame + 1) * SAMPLES_PER_DECODER_FRAME
            last = self._last_end.get(phrase)
            if last is None or end > last + REPLAY_SECONDS * SAMPLE_RATE:
                found.append((phrase, min(end, self._position)))
                self._last_end[phrase] = end
        self._reported = len(segments)
        self._keep_short()
        return found

    def _take(self, frame: np.ndarray) -> None:
        if self.engine.search != self.search:
            self.restart(self._position)
        self.engine.feed(frame)
        self._position += len(frame)
        self._recent = np.concatenate([self._recent, frame])[-int(REPLAY_SECONDS * SAMPLE_RATE) :]

    def _keep_short(self) -> None:
        if self._position - self._utterance_start > RESTART_SECONDS * SAMPLE_RATE:
            replay = self._recent
            self.restart(self._position - len(replay))
            self.engine.feed(replay)
            self._position += len(replay)
            self._recent = replay
