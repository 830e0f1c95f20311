"""Keyphrase spotting on the streaming audio, with a second stage that checks each spotted phrase.

PocketSphinx's keyphrase search fires on anything whose phones resemble the phrase a little
more than any other phone sequence, and in everyday talk that is often. Before a wake counts,
the phrase's own audio is decoded again, whole, with the phrase as the only sentence and with a
free phone loop (as commands are checked, recognise/command.py): a real phrase fits its words
about as well as free phones do, a chance resemblance much worse. A phrase said faster or slower
than anyone says it is refused too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from carvoice.audio import SAMPLE_RATE
from carvoice.recognise.engine import PHONES, WAKE, WAKE_CHECK, SpeechEngine

SAMPLES_PER_DECODER_FRAME = SAMPLE_RATE // 100
# Hits accumulate inside one utterance and a very long one slows the search, so the
# utterance is restarted this often, replaying a little audio so that a phrase spanning
# the restart is not lost.
RESTART_SECONDS = 30.0
REPLAY_SECONDS = 1.5
# Audio kept for the check: the longest phrase a slow speaker says, and some lead.
CHECK_BUFFER_SECONDS = 4.0
CHECK_LEAD_SECONDS = 0.3  # before the spotted start: the search places it late as often as early
# The check takes this much audio after the spotted end (the search may place it a little early);
# more would bring in the command that follows, which the phrase alone cannot explain. At very
# low thresholds the search fires well before the phrase is over (0.56 s for a flite voice at
# 1e-30) and the check then refuses half a phrase: such thresholds wake far too often anyway.
# The phrase's end is taken from the check's own alignment.
CHECK_TAIL_SECONDS = 0.15
# The fit (phrase grammar minus phone loop, acoustic log units per frame of the phrase) below which
# a spotted phrase is refused. Chosen on the "tune" half of the shared clips in kitchen noise at
# 10 dB (README, "Wake phrase"), pooled over "computer", "jarvis" and "alexa": at the default
# keyphrase threshold (1e5) it misses no phrase the search alone would have heard (6.55 % both)
# and wakes 12.2 times an hour instead of 54.2. At -10 it woke 5.1 times an hour but missed 8.9 %,
# and the flite voice "slt" fell just below it (-8.6 on a clean "hey copilot"): too close.
CHECK_FIT = -15.0
# Seconds per phone of the phrase outside which it is refused: nobody says a phrase that fast or slow.
PHONE_SECONDS = (0.03, 0.3)
_FILLERS = ("<", "[", "+", "(")


@dataclass(frozen=True)
class PhraseCheck:
    fit: float
    seconds_per_phone: float
    end: int = 0  # samples from the start of the checked audio to the end of the phrase

    @property
    def passed(self) -> bool:
        return self.passes(CHECK_FIT)

    def passes(self, fit: float) -> bool:
        return self.fit >= fit and PHONE_SECONDS[0] <= self.seconds_per_phone <= PHONE_SECONDS[1]


def check_phrase(engine: SpeechEngine, audio: np.ndarray) -> PhraseCheck:
    """The second stage on the audio around one spotted phrase."""
    phrase = engine.decode(WAKE_CHECK, audio)
    phones = engine.decode(PHONES, audio)
    words = [s for s in phrase.segments if not s.word.startswith(_FILLERS)] if phrase is not None else []
    frames = sum(s.frames for s in words)
    if phrase is None or phones is None or not frames:
        return PhraseCheck(-np.inf, 0.0)
    phone_count = sum(engine.phone_count(s.word) for s in words) or 1
    fit = (phrase.acoustic_score - phones.acoustic_score) / frames
    return PhraseCheck(fit, frames / 100 / phone_count, (words[-1].end_frame + 1) * SAMPLES_PER_DECODER_FRAME)


class WakeDetector:
    """Feeds audio to the keyphrase search; reports where each spotted phrase ended.

    `feed` is the daemon's: the first hit that passes the check (CHECK_TAIL_SECONDS after it)
    stops the search (the agent then listens for a command). `feed_all` keeps listening and reports every keyphrase of
    the search, unchecked, for an evaluation that sweeps many thresholds in one pass.
    """

    def __init__(self, engine: SpeechEngine, search: str = WAKE) -> None:
        self.engine = engine
        self.search = search
        self._candidate: tuple[int, int] | None = None  # a spotted phrase waiting for its check
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
        self._candidate = None

    def feed(self, frame: np.ndarray) -> int | None:
        """The absolute sample where the wake phrase ended, once a spotted phrase passed its check."""
        self._take(frame)
        if self._candidate is None and self.engine.partial() is not None:
            segments = self.engine.segments()
            if segments:
                self._candidate = self._span(segments[-1].start_frame, segments[-1].end_frame)
            else:
                self._candidate = (self._position, self._position)
        if self._candidate is None:
            self._keep_short()
            return None
        start, end = self._candidate
        if self._position < end + CHECK_TAIL_SECONDS * SAMPLE_RATE:
            return None
        self._candidate = None
        self.engine.stop()
        first, audio = self.audio(start, self._position)
        check = check_phrase(self.engine, audio)
        if check.passed:
            return first + check.end
        self._listen_on(end)  # not the phrase: go on spotting from where it ended
        return None

    def feed_all(self, frame: np.ndarray) -> list[tuple[str, int, int]]:
        """Every keyphrase this frame completed: (keyphrase, start, end) in absolute samples."""
        self._take(frame)
        found = []
        segments = self.engine.segments()
        for segment in segments[self._reported :]:
            phrase = segment.word.strip()
            start, end = self._span(segment.start_frame, segment.end_frame)
            last = self._last_end.get(phrase)
            if last is None or end > last + REPLAY_SECONDS * SAMPLE_RATE:
                found.append((phrase, start, end))
                self._last_end[phrase] = end
        self._reported = len(segments)
        self._keep_short()
        return found

    def audio(self, start: int, end: int) -> tuple[int, np.ndarray]:
        """The kept audio from a little before `start` to `end`, and where it begins (absolute samples)."""
        kept = self._position - len(self._recent)
        first = max(kept, start - round(CHECK_LEAD_SECONDS * SAMPLE_RATE))
        return first, self._recent[first - kept : max(0, end - kept)]

    def _span(self, start_frame: int, end_frame: int) -> tuple[int, int]:
        start = self._utterance_start + start_frame * SAMPLES_PER_DECODER_FRAME
        end = self._utterance_start + (end_frame + 1) * SAMPLES_PER_DECODER_FRAME
        return start, min(end, self._position)

    def _take(self, frame: np.ndarray) -> None:
        if self.engine.search != self.search:
            self.restart(self._position)
        self.engine.feed(frame)
        self._position += len(frame)
        self._recent = np.concatenate([self._recent, frame])[-int(CHECK_BUFFER_SECONDS * SAMPLE_RATE) :]

    def _listen_on(self, position: int) -> None:
        """Restart the search at `position`, replaying the kept audio after it."""
        kept_after = self._position - position
        replay = self._recent[len(self._recent) - kept_after :] if kept_after > 0 else self._recent[:0]
        kept = self._recent
        self.restart(position)
        if len(replay):
            self.engine.feed(replay)
            self._position += len(replay)
        self._recent = kept

    def _keep_short(self) -> None:
        if self._position - self._utterance_start > RESTART_SECONDS * SAMPLE_RATE:
            self._listen_on(self._position - min(len(self._recent), round(REPLAY_SECONDS * SAMPLE_RATE)))
