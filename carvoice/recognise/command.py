"""Decoding one command with the profile's grammar, and judging how far to trust it.

A grammar decoder always answers with *some* sentence of the grammar, even for
speech that is not a command at all, so two checks follow every decode:

- fit: the grammar path's acoustic score against a phone loop's over the same
  audio, per frame of recognised words. Speech the grammar explains about as
  well as free phones is likely a command; speech the phone loop explains much
  better is not. (Acoustic scores are relative to the best senone of each frame,
  so the two searches are comparable. The path score would add the search's
  fixed cost per utterance, which marks short commands down: see README,
  "Confidence, recalibrated", for what that trades.)
- duration: a word held far longer than anyone says it is the grammar stretching
  a short word over noise or over other talk, whatever the fit says.
- rivals: the same sentence with one slot's words swapped for another value of
  that slot ("turn off" for "turn on", "lock" for "unlock"), re-scored on the same
  audio. If a rival fits at least as well, the slot was not really heard.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from carvoice.audio.noise import with_floor
from carvoice.intent import Grammar
from carvoice.intent.grammar import expansions
from carvoice.profile.loader import LEAD_IN_MARK
from carvoice.profile.model import Profile
from carvoice.recognise.engine import ANSWER, COMMAND, PHONES, Segment, SpeechEngine
from carvoice.safety.confirm import ANSWER_GRAMMAR, NO, YES, answer_of, ways_to_say

# Logistic mapping of the fit (log units per word frame) onto 0..1: CENTRE maps to 0.5.
# Chosen on espeak-ng sets and real recordings (README, "Confidence, recalibrated").
CONFIDENCE_CENTRE = -25.0
CONFIDENCE_SCALE = 4.0
# The longest a word may last: 0.25 s a phone plus 0.25 s (in 10 ms frames). Real coffee
# orders stay inside it (their accuracy with the coffee profile is unchanged, 0.966), while
# real speech that is not a command, heard after a false wake, was often decoded with a word
# such as "fan" held over a second of silence (tests/test_recognise.py has one such clip):
# with this limit, scripts/not-commands --only coffee went from 5.4 actions an hour to 0.
FRAMES_PER_PHONE = 25
FRAMES_PER_WORD = 25
_FILLERS = ("<", "[", "+", "(")  # silence, noise and the null transitions of the grammar
_RIVALS_PER_VALUE = 3
# A noise floor under every decoded command. Recordings with runs of digital silence (or a
# microphone that gates to zero) left the grammar search with no path at all: 2 of 206
# real coffee orders decoded to nothing and 2 more picked up words from the silence. A
# floor at -70 to -50 dBFS fixed all four; a real microphone's own noise is about this
# level, so live audio is unchanged in effect.
DECODE_FLOOR_DB = -60.0


@dataclass(frozen=True)
class Recognition:
    words: tuple[str, ...]
    confidence: float
    fit: float  # grammar minus phone-loop acoustic score per frame of recognised words
    rival: str | None = None  # a different command that fits the audio as well or better
    drawn_out: Segment | None = None  # a word held longer than speech holds it

    @property
    def text(self) -> str:
        return " ".join(self.words)

    @property
    def doubt(self) -> str | None:
        """Why the words cannot be trusted whatever the confidence, if there is a reason."""
        if self.drawn_out is not None:
            word = self.drawn_out.word.split("(")[0]
            return f'"{word}" lasted {self.drawn_out.frames / 100:.1f} s, longer than it is ever said'
        if self.rival is not None:
            return f'could as well have been "{self.rival}"'
        return None


def confidence_of(fit: float) -> float:
    if math.isinf(fit):
        return 0.0 if fit < 0 else 1.0
    return 1.0 / (1.0 + math.exp(-(fit - CONFIDENCE_CENTRE) / CONFIDENCE_SCALE))


def rivals(profile: Profile, words: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The sentence with one slot value replaced by another, where that changes the meaning."""
    readings = profile.grammar.parse(list(words))
    if not readings:
        return []
    meaning = profile.readings(list(words))
    found: list[tuple[str, ...]] = []
    for _, type_name, start, end in readings[0].spans:
        for value in profile.slot_types[type_name].values:
            for form in expansions(value.spoken, {})[:_RIVALS_PER_VALUE]:
                rival = words[:start] + form + words[end:]
                if rival != words and rival not in found and profile.readings(list(rival)) not in ([], meaning):
                    found.append(rival)
    return found


class CommandRecogniser:
    """Collects the frames of one command as they arrive, then decodes them whole."""

    search = COMMAND

    def __init__(self, engine: SpeechEngine, profile: Profile) -> None:
        self.engine = engine
        self.profile = profile
        self._frames: list[np.ndarray] = []

    def begin(self) -> None:
        self._frames = []

    def feed(self, frame: np.ndarray) -> None:
        self._frames.append(frame)

    def finish(self) -> Recognition:
        audio = np.concatenate(self._frames) if self._frames else np.zeros(0, dtype=np.int16)
        audio = with_floor(audio, DECODE_FLOOR_DB)
        self._frames = []
        grammar = self.engine.decode(self.search, audio)
        if grammar is None:
            return Recognition((), 0.0, -math.inf)
        words = tuple(w for w in grammar.text.split() if not w.startswith(_FILLERS) and LEAD_IN_MARK not in w)
        spoken = [s for s in grammar.segments if not s.word.startswith(_FILLERS)]
        word_frames = sum(s.frames for s in spoken)
        if not words or word_frames == 0 or not self._grammar().parse(list(words)):
            return Recognition(words, 0.0, -math.inf)
        drawn_out = next((s for s in spoken if s.frames > self._longest(s.word)), None)
        phones = self.engine.decode(PHONES, audio)
        fit = (grammar.acoustic_score - phones.acoustic_score) / word_frames if phones is not None else -math.inf
        rival = self._best_rival(words, audio)
        return Recognition(words, confidence_of(fit), fit, " ".join(rival) if rival else None, drawn_out)

    def _grammar(self) -> Grammar:
        return self.profile.grammar

    def _longest(self, word: str) -> int:
        return FRAMES_PER_PHONE * self.engine.phone_count(word) + FRAMES_PER_WORD

    def _rivals(self, words: tuple[str, ...]) -> list[tuple[str, ...]]:
        return rivals(self.profile, words)

    def _best_rival(self, words: tuple[str, ...], audio: np.ndarray) -> tuple[str, ...] | None:
        candidates = self._rivals(words)
        if not candidates:
            return None
        own = self.engine.decode_sentences([words], audio)
        best = self.engine.decode_sentences(candidates, audio)
        if best is None or (own is not None and own.log_score > best.log_score):
            return None
        return tuple(best.text.split())

    def recognise(self, audio: np.ndarray) -> Recognition:
        """A whole recording of one command, for evaluation and tests."""
        self.begin()
        self.feed(audio)
        return self.finish()


class AnswerRecogniser(CommandRecogniser):
    """Yes or no after a question: the same checks, a two-word world."""

    search = ANSWER

    def _grammar(self) -> Grammar:
        return ANSWER_GRAMMAR

    def _rivals(self, words: tuple[str, ...]) -> list[tuple[str, ...]]:
        answer = answer_of(words)
        return ways_to_say(NO if answer == YES else YES) if answer else []
