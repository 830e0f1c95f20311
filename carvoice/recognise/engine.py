"""One PocketSphinx decoder holding every search the agent needs.

One decoder with several searches (wake phrase, command grammar, phone loop)
costs about half the memory of one decoder per search, and loading only the
profile's words keeps it small. The binding crashes rather than raising on
misuse, so this class is the only code that touches the decoder and it keeps
track of whether an utterance is open.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np

from carvoice.intent import Grammar
from carvoice.profile import dictionary
from carvoice.profile.model import LEAD_IN_MARK

if TYPE_CHECKING:
    import pocketsphinx

    from carvoice.profile.model import Profile

WAKE = "wake"
WAKE_SWEEP = "wake_sweep"  # the wake phrase at many thresholds at once (evaluation only)
WAKE_CHECK = "wake_check"  # the wake phrase alone as a grammar: the spotter's second stage
COMMAND = "command"
PHONES = "phones"  # a phone loop with no language model: the yardstick for "how well could any speech fit"
SENTENCES = "sentences"  # a few given sentences, re-scored on demand
SUBSTITUTES = "substitutes"  # a sentence, or the same with one word swapped for another of the dictionary
ANSWER = "answer"  # yes or no, after the agent asked

# Phone-loop penalty of the keyphrase search: far below PocketSphinx's default 0.1, which
# lets the phone loop outscore the phrase on clear speech (measured: most synthetic voices
# never woke at 0.1 and all did at 1e-10).
KWS_PHONE_LOOP_PENALTY = 1e-10
# Measured on 360 synthetic recordings of the demo car's examples (espeak-ng, 5 voices x 2
# speeds), raw grammar accuracy 0.79 with PocketSphinx's defaults: more Gaussians per senone
# (topn 4 -> 32) and no lattice rescoring pass (bestpath, slower and worse) gave 0.90, and
# decoding each command whole with its own cepstral mean (batch CMN) 0.96.
DECODER_SETTINGS = {"topn": 32, "bestpath": False}
_LOG_BASE = math.log(1.0001)  # the decoder's logmath base
SWEEP_MARK = "__t"  # alias words of the wake sweep: "copilot__t3"
FILLER_MARKS = ("<", "[", "+", "(")  # silence, noise and the null transitions of a grammar
BEGUN_MARK = "^"  # the first phones of a word, as a speaker who stopped inside it said them: "warmer^3"


@dataclass(frozen=True)
class Segment:
    word: str
    start_frame: int
    end_frame: int
    acoustic_score: float  # log units, as Hypothesis.acoustic_score

    @property
    def frames(self) -> int:
        return self.end_frame - self.start_frame + 1


@dataclass(frozen=True)
class Phone:
    name: str
    start_frame: int
    frames: int
    acoustic_score: float  # log units, from the state aligner


@dataclass(frozen=True)
class AlignedWord:
    word: str  # as the dictionary has it: "off(2)" is the second pronunciation of "off"
    start_frame: int
    frames: int
    phones: tuple[Phone, ...]


@dataclass(frozen=True)
class Hypothesis:
    text: str
    log_score: float  # in the decoder's log units; only differences between searches mean anything
    frames: int
    segments: tuple[Segment, ...]
    # A grammar search's best path to the audio's end through any state, sentence finished or not
    # (text, log score: the whole path's, penalties included): "turn off the light" before "bar",
    # where the finished best is "turn off dome light". None unless asked for (`decode`), when it is
    # the finished best, and when it holds no word (PocketSphinx then gives no hypothesis at all).
    open_end: tuple[str, float] | None = None

    @property
    def acoustic_score(self) -> float:
        """The score without the search's own costs: how well the sounds alone fit, comparable
        between a grammar and a phone loop whatever their shapes."""
        return sum(s.acoustic_score for s in self.segments)


class SpeechEngine:
    def __init__(
        self,
        pronunciations: dict[str, list[str]],
        wake_phrase: str,
        wake_threshold: float,
        grammars: dict[str, Grammar],
        verbose: bool = False,
        settings: dict[str, str | float | bool] | None = None,
    ) -> None:
        """`settings`: PocketSphinx options over DECODER_SETTINGS (front ends measured by `carvoice eval --decoder`)."""
        import pocketsphinx

        with tempfile.NamedTemporaryFile("w", suffix=".dict", delete=False) as dict_file:
            for word, options in sorted(pronunciations.items()):
                for index, phones in enumerate(options):
                    suffix = f"({index + 1})" if index else ""
                    dict_file.write(f"{word}{suffix} {phones}\n")
        try:
            config = pocketsphinx.Config(
                hmm=str(dictionary.model_dir() / "en-us"),
                dict=dict_file.name,
                lm=None,
                loglevel="ERROR" if verbose else "FATAL",
                kws_threshold=wake_threshold,
                kws_plp=KWS_PHONE_LOOP_PENALTY,
                **(DECODER_SETTINGS | (settings or {})),
            )
            self.decoder = pocketsphinx.Decoder(config)
            if settings:  # the model's feat.params overrode the front end's options: set them again
                for key, value in settings.items():
                    self.decoder.config[key] = value
                self.decoder.reinit_feat()
        finally:
            os.unlink(dict_file.name)
        self.decoder.add_keyphrase(WAKE, wake_phrase)
        self.decoder.add_fsg(WAKE_CHECK, self._sentence_fsg(WAKE_CHECK, [tuple(wake_phrase.split())]))
        self.decoder.add_allphone_file(PHONES, None)
        for name, grammar in grammars.items():
            fsg = self.decoder.create_fsg(name, grammar.start, grammar.final, grammar.fsg_transitions())
            self.decoder.add_fsg(name, fsg)
        self._pronounced = {word: frozenset(options) for word, options in pronunciations.items()}
        self.search: str | None = None
        self.frames_fed = 0
        self._live_cmn: str | None = None  # the stream's cepstral mean, kept across whole-buffer decodes
        self._holds_sentences = False  # the SENTENCES search exists (decode_with_substitutes drops it)
        self._beginnings: dict[str, dict[str, str]] = {}  # word -> its beginnings added so far: name -> phones

    def add_wake_sweep(self, phrase: str, thresholds: list[float]) -> dict[str, float]:
        """The WAKE_SWEEP search: `phrase` once per threshold, in one keyphrase search.

        The binding reports which keyphrase fired but not its score, so each threshold
        gets its own copy of the phrase, spelled with aliases of its words (same
        phones). All copies share one front end and one set of senone scores, so a
        whole sweep costs one decoding pass. Returns keyphrase text -> threshold.
        """
        texts: dict[str, float] = {}
        with tempfile.NamedTemporaryFile("w", suffix=".kws", delete=False) as keyfile:
            for index, threshold in enumerate(thresholds):
                words = []
                for word in phrase.split():
                    phones = self.decoder.lookup_word(word)
                    if phones is None:
                        raise ValueError(f"the wake phrase word {word!r} is not in the dictionary")
                    alias = f"{word}{SWEEP_MARK}{index}"
                    self.decoder.add_word(alias, phones, False)
                    words.append(alias)
                texts[" ".join(words)] = threshold
                keyfile.write(f"{' '.join(words)} /{threshold:g}/\n")
        try:
            self.stop()
            self.decoder.add_kws(WAKE_SWEEP, keyfile.name)
        finally:
            os.unlink(keyfile.name)
        return texts

    def start(self, search: str) -> None:
        """Open an utterance for streaming audio (the wake phrase search)."""
        self.stop()
        if self._live_cmn is not None:
            self.decoder.set_cmn(self._live_cmn)
            self._live_cmn = None
        self.decoder.activate_search(search)
        self.decoder.start_utt()
        self.search = search
        self.frames_fed = 0

    def feed(self, samples: np.ndarray) -> None:
        if self.search is None:
            raise RuntimeError("feed() before start()")
        if len(samples):
            self.decoder.process_raw(np.ascontiguousarray(samples, dtype=np.int16).tobytes())
            self.frames_fed += len(samples)

    def partial(self) -> str | None:
        hyp = self.decoder.hyp()
        return hyp.hypstr if hyp is not None and hyp.hypstr else None

    def stop(self) -> Hypothesis | None:
        """Close the utterance; the final hypothesis of the active search, if any."""
        if self.search is None:
            return None
        self.decoder.end_utt()
        self.search = None
        hyp = self.decoder.hyp()
        if hyp is None:
            return None
        return Hypothesis(hyp.hypstr, _log(hyp.score), self.decoder.n_frames(), tuple(self.segments()))

    def segments(self) -> list[Segment]:
        return [Segment(s.word, s.start_frame, s.end_frame, _log(s.ascore)) for s in (self.decoder.seg() or [])]

    def phone_count(self, word: str) -> int:
        """Phones in the pronunciation the decoder used (`to(3)` is one of `to`'s); 0 if unknown."""
        phones = self.decoder.lookup_word(word)
        return len(phones.split()) if phones else 0

    def beginnings(self, word: str, unlike: str) -> list[str]:
        """Pseudo-words for every beginning of the word short of its last phone ("warmer^3": W AO R),
        each pronunciation's, save those that begin `unlike` too: the word heard in its place, cut
        short, is the other checks' business (its own beginnings rejected 18 more of 740 tuning
        commands said whole, for 6 more cuts caught). Added to the decoder the first time they are
        asked for: only words that may end a command ever get them."""
        if word not in self._beginnings:
            self._beginnings[word] = {}
            for pronunciation in sorted(self._pronounced.get(word, ())):
                phones = pronunciation.split()
                for count in range(1, len(phones)):
                    begun = " ".join(phones[:count])
                    if begun not in self._beginnings[word].values():
                        name = f"{word}{BEGUN_MARK}{len(self._beginnings[word]) + 1}"
                        self.decoder.add_word(name, begun, False)
                        self._beginnings[word][name] = begun
        heard = [f"{said} " for said in self._pronounced.get(unlike, ())]
        known = self._beginnings[word]
        return [name for name, phones in known.items() if not any(s.startswith(f"{phones} ") for s in heard)]

    def decode(self, search: str, samples: np.ndarray, open_end: bool = False) -> Hypothesis | None:
        """A whole recording through one search, normalised by its own cepstral mean.

        Batch CMN made grammar decoding markedly more accurate than the stream's running
        mean, and makes every decode of the same audio start alike. The stream's mean is
        kept for the next streaming search. `open_end`: a grammar search also reports its
        best path through any state (`Hypothesis.open_end`), read before the utterance
        closes, when only final states count; both end at the recording's last frame.
        """
        finished, anywhere = self._decoded(search, samples, open_end)
        if finished is None or anywhere is None or anywhere.hypstr == finished.text:
            return finished
        return replace(finished, open_end=(anywhere.hypstr, _log(anywhere.score)))

    def begun(self, search: str, samples: np.ndarray) -> str:
        """The words of a grammar search's best path through any state, whole sentence or not ("" if
        none): what the speaker had begun to say where the search found no whole sentence."""
        _, anywhere = self._decoded(search, samples, open_end=True)
        return anywhere.hypstr if anywhere is not None else ""

    def _decoded(
        self, search: str, samples: np.ndarray, open_end: bool
    ) -> tuple[Hypothesis | None, pocketsphinx.Hypothesis | None]:
        """`decode`'s search: the final hypothesis, and with `open_end` the best path through any state."""
        self.stop()
        if self._live_cmn is None:
            self._live_cmn = self.decoder.get_cmn()
        self.decoder.reinit_feat()  # back to batch CMN; streaming switched the front end to live
        self.decoder.activate_search(search)
        self.decoder.start_utt()
        self.search = search
        if len(samples):
            self.decoder.process_raw(np.ascontiguousarray(samples, dtype=np.int16).tobytes(), full_utt=True)
        self.frames_fed = len(samples)
        anywhere = self.decoder.hyp() if open_end and len(samples) else None
        return self.stop(), anywhere

    def decode_sentences(
        self, sentences: list[tuple[str, ...]], samples: np.ndarray, priors: Sequence[float] = ()
    ) -> Hypothesis | None:
        """The best of a few word sequences for this audio (all words must be in the dictionary);
        `priors`, when given, the probability of each (else 1)."""
        self.stop()
        self.decoder.add_fsg(SENTENCES, self._sentence_fsg(SENTENCES, sentences, priors))
        self._holds_sentences = True
        return self.decode(SENTENCES, samples)

    def _end_alignment(self) -> bool:
        """Close the aligner's utterance; False when it found no path through the words to the
        audio's end (a cut-off command in loud cabin noise did this: the binding raises)."""
        try:
            self.decoder.end_utt()
        except RuntimeError:
            return False
        return True

    def decode_with_substitutes(
        self,
        words: tuple[str, ...],
        open_positions: set[int],
        samples: np.ndarray,
        log10_probability: float,
        nearer: Mapping[int, Mapping[str, float]] = MappingProxyType({}),
    ) -> Hypothesis | None:
        """The best of `words` and of every sentence with one word at an open position said as
        another word of the dictionary (one that does not sound the same), on the same audio.

        They share one search because only then are their scores comparable: a search scores
        each frame against the best senone it computed itself, so the same words score
        differently in another search. A swapped word enters with `log10_probability`, so it
        wins only where it fits the audio that much better; `nearer` gives, per position, words
        their own log10 instead (-Infinity: not tried there).
        """
        probabilities = {at: {word: 10.0**log10 for word, log10 in own.items()} for at, own in nearer.items()}
        transitions = one_word_swapped(words, open_positions, self._pronounced, 10.0**log10_probability, probabilities)
        self.stop()
        if self._holds_sentences:  # built anew for each use: not held beside this one (1.1 MB of peak RSS)
            self.decoder.remove_search(SENTENCES)
            self._holds_sentences = False
        self.decoder.add_fsg(SUBSTITUTES, self.decoder.create_fsg(SUBSTITUTES, 0, 1, transitions))
        try:
            return self.decode(SUBSTITUTES, samples)
        finally:  # it is built anew for each command: held, its ~5 MB would stay resident all day
            self.decoder.remove_search(SUBSTITUTES)

    def _sentence_fsg(
        self, name: str, sentences: list[tuple[str, ...]], priors: Sequence[float] = ()
    ):  # -> pocketsphinx.FsgModel
        """The sentences from state 0 to state 1, each with its prior (`priors`, else 1) on its first
        word, where the search holds it against the others from the first frame. Sentences of one
        prior that begin alike share their first words, so that the search follows them once (a
        slot value's rivals and the numbers out of range differ only at the slot). A tree whose
        priors fell where each sentence parts from the others was tried: a prior that late came
        after the beams had chosen, and no longer meant what the measured priors mean."""
        if priors and len(priors) != len(sentences):
            raise ValueError(f"{len(priors)} priors for {len(sentences)} sentences")
        arcs: dict[tuple[int, str, bool, float], int] = {}  # (from, word, ends a sentence, prior) -> to
        next_state = 2
        for number, words in enumerate(sentences):
            state = 0
            for index, word in enumerate(words):
                last = index == len(words) - 1
                prior = priors[number] if priors and state == 0 else 1.0
                arc = (state, word, last, prior)
                if arc not in arcs:
                    arcs[arc] = 1 if last else next_state
                    next_state += not last
                state = arcs[arc]
        return self.decoder.create_fsg(name, 0, 1, [(arc[0], to, arc[3], arc[1]) for arc, to in arcs.items()])

    def align(self, words: tuple[str, ...], samples: np.ndarray) -> tuple[Hypothesis, tuple[AlignedWord, ...]] | None:
        """The words forced onto the audio, down to their phones (fillers left out).

        The sentence decode is one the rival check runs anyway; the phones cost one more
        pass of PocketSphinx's state aligner over the same audio, inside the word
        boundaries that decode found. (The aligner cannot start from the command grammar's
        own decode: it does not follow the grammar's null transitions.)
        """
        own = self.decode_sentences([words], samples)
        if own is None:
            return None
        self.decoder.set_alignment()
        self.decoder.start_utt()
        try:
            self.decoder.process_raw(np.ascontiguousarray(samples, dtype=np.int16).tobytes(), full_utt=True)
        finally:
            placed = self._end_alignment()
        if not placed:
            return None
        aligned = tuple(
            AlignedWord(
                entry.name,
                entry.start,
                entry.duration,
                tuple(Phone(phone.name, phone.start, phone.duration, float(phone.score)) for phone in entry),
            )
            for entry in self.decoder.get_alignment()
            if not entry.name.startswith(FILLER_MARKS)
        )
        return own, aligned


def one_word_swapped(
    words: tuple[str, ...],
    open_positions: set[int],
    pronounced: dict[str, frozenset[str]],
    probability: float,
    probabilities: Mapping[int, Mapping[str, float]] = MappingProxyType({}),
) -> list[tuple[int, int, float, str]]:
    """Arcs from state 0 to state 1 of `words`, and of `words` with one word at an open position
    said as any other word of `pronounced` that shares none of its pronunciations (the pieces of
    the wake phrase's lead-in are not words); a swapped word's arc has its own probability at
    that position (`probabilities`; 0: none), else `probability`, every other arc 1."""
    transitions: list[tuple[int, int, float, str]] = []
    final = 1
    as_said = [0] + [2 + i for i in range(1, len(words))]  # no word swapped yet
    swapped = [2 + len(words) + i for i in range(len(words))]  # one word swapped
    for index, word in enumerate(words):
        last = index == len(words) - 1
        transitions.append((as_said[index], final if last else as_said[index + 1], 1.0, word))
        if index > 0:
            transitions.append((swapped[index], final if last else swapped[index + 1], 1.0, word))
        if index in open_positions:
            sounds, own = pronounced.get(word, frozenset()), probabilities.get(index, {})
            for other in pronounced:
                chance = own.get(other, probability)
                if other != word and LEAD_IN_MARK not in other and not sounds & pronounced[other] and chance > 0:
                    transitions.append((as_said[index], final if last else swapped[index + 1], chance, other))
    return transitions


def _log(probability: float) -> float:
    """The binding hands scores over as probabilities; back to the decoder's log units."""
    return math.log(probability) / _LOG_BASE if probability > 0 else -math.inf


def engine_for(
    profile: Profile,
    verbose: bool = False,
    wake_phrase: str | None = None,
    wake_threshold: float | None = None,
    settings: dict[str, str | float | bool] | None = None,
) -> SpeechEngine:
    """The engine for a profile: its words, its wake phrase (or another) and its command grammar."""
    from carvoice.intent.answers import ANSWER_GRAMMAR
    from carvoice.profile.model import BRITISH, KEYPHRASE_THRESHOLD, POCKETSPHINX

    if wake_threshold is None:
        wake_threshold = profile.wake.threshold if profile.wake.engine == POCKETSPHINX else KEYPHRASE_THRESHOLD
    words = set(profile.dictionary_words) | ANSWER_GRAMMAR.words | set((wake_phrase or "").split())
    pronunciations = dictionary.lookup((words | dictionary.searched_words()) - set(profile.pronunciations))
    pronunciations.update({w: p for w, p in profile.pronunciations.items() if w in words})
    if profile.recognition.accent == BRITISH:
        pronunciations = {word: dictionary.with_british(options) for word, options in pronunciations.items()}
    return SpeechEngine(
        pronunciations,
        wake_phrase or profile.wake.phrase,
        wake_threshold,
        {COMMAND: profile.grammar, ANSWER: ANSWER_GRAMMAR},
        verbose=verbose,
        settings=settings,
    )
