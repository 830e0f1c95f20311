"""The evaluation sets scripts/make-eval-set makes: what they hold, and the agent on a sample of them."""

import json

import numpy as np
import pytest

from carvoice.cli import main
from carvoice.evaluation.generate import (
    EXTRA_WORDS,
    INSIDE_CUT,
    LATE_CUT,
    NEAR_MISSES,
    VOICE_HALVES,
    make_set,
    plan_set,
    voices,
)
from carvoice.profile.summary import examples_of
from tests.conftest import needs


def test_cut_offs_stop_before_the_last_words_or_inside_the_last_word(demo_profile):
    lines = plan_set(demo_profile, "flite", kinds=("cut-offs",))
    kinds = {line["kind"] for line in lines}
    assert kinds == {"cut-before", "cut-inside", "cut-late", "command"}
    for line in lines:
        words = line["text"].lower().split()
        where, amount = line["cut"].split()
        if where == "before":
            said = words[: -int(amount)]
            assert int(amount) in (1, 2) and said
            if line["kind"] == "command":  # what was said is itself a complete command
                assert demo_profile.readings(said) == [(line["intent"], line["slots"])]
            else:
                assert demo_profile.readings(said) == [] and line["intent"] is None
        else:
            assert INSIDE_CUT[0] <= float(amount) <= INSIDE_CUT[1]
            assert line["kind"] == ("cut-inside" if float(amount) <= LATE_CUT else "cut-late")
            assert line["intent"] is None and not demo_profile.readings(words[:-1])
    stopped = [line for line in lines if line["text"] == "set the temperature to twenty two degrees"]
    assert all(line["kind"] == "command" for line in stopped if line["cut"].startswith("before"))


def test_paused_commands_are_the_whole_command(demo_profile):
    lines = plan_set(demo_profile, "flite", sampled=2, kinds=("pauses",))
    assert {line["kind"] for line in lines} == {"paused"}
    for line in lines:
        words = line["text"].lower().split()
        _, before, seconds = line["pause"].split()
        assert 1 <= int(before) < len(words) and 0.3 <= float(seconds) <= 0.5
        assert demo_profile.readings(words) == [(line["intent"], line["slots"])]
    # inside the number, where "... twenty" alone would be another command
    twenty_two = "set the temperature to twenty two degrees"
    assert [line["pause"].split()[1] for line in lines if line["text"] == twenty_two].count("2") == len(voices("flite"))


def test_near_misses_are_sentences_the_profile_does_not_understand(demo_profile):
    lines = plan_set(demo_profile, "flite", kinds=("near-misses",))
    texts = {line["text"] for line in lines}
    assert len(texts) >= 50 and len(lines) == len(texts) * len(voices("flite"))
    assert not any(demo_profile.grammar.parse(text.split()) for text in texts)
    assert texts <= set(NEAR_MISSES)


def test_extra_words_wrap_every_command_that_acts_and_make_it_none(demo_profile):
    lines = plan_set(demo_profile, "flite", kinds=("extra-words",))
    acting = [
        e
        for name, i in demo_profile.intents.items()
        if i.actions
        for e in examples_of(demo_profile, name, len(i.examples) or 1)
    ]
    assert len(lines) == len(acting) * len(voices("flite"))
    used = set()
    for line, command in zip(lines, acting * len(voices("flite")), strict=True):
        before, after = line["text"].split(command)
        used.add((before.strip(), after.strip()))
        assert line["kind"] == "extra-words" and line["intent"] is None
        assert not demo_profile.grammar.parse(line["text"].lower().split())
    assert used == set(EXTRA_WORDS)


def test_the_voice_halves_share_no_voice():
    first, second = ({voice for voice, _ in voices(half)} for half in VOICE_HALVES)
    assert first and second and not first & second
    assert first | second == {voice for voice, _ in voices("all")}
    british = {voice for voice, _ in voices("british")}  # the British forms were chosen on these
    assert british and not british & (first | second)
    fresh = {voice for voice, _ in voices("fresh")}  # a rule's last report, after half 2 has been seen
    assert len(fresh) == 3 and not fresh & (first | second | british)


@pytest.mark.slow
@needs("espeak-ng", "flite")
def test_cut_off_commands_are_rarely_acted_on(demo_profile, tmp_path, capsys):
    """A spread sample of the cut-off set (CI's share of scripts/make-eval-set OUT --kinds cut-offs).

    The goal is no action at all, and the shipped recogniser reaches it on the 49 cuts here (README,
    "Never acting on what was not said" and "Sentences the grammar had to finish", has the whole
    sets): a change that lets one through fails.
    """
    manifest = make_set(demo_profile, tmp_path, "all", kinds=("cut-offs",), jobs=2, every=23)
    assert main(["eval", str(manifest), "--jobs", "2"]) == 0
    kinds = json.loads(capsys.readouterr().out.splitlines()[-1])["by_kind"]
    cuts = [kinds["cut-before"], kinds["cut-inside"]]
    assert sum(k["n"] for k in cuts) >= 40
    assert sum(k["actions"] for k in cuts) == 0, kinds


@pytest.mark.slow
@needs("espeak-ng", "flite")
def test_commands_with_words_that_withdraw_them_are_rarely_acted_on(demo_profile, tmp_path, capsys):
    """A spread sample of the extra-words set ("don't open the boot", "... in ten minutes").

    The goal is no action at all; the shipped recogniser acts on one of the 45 here (flite kal16,
    "turn on the light bar or not": "bar" drawn over "or", and "not" 11 loud frames under the
    path's silence, fewer than `unheard_frames`), and on 4 of the 490 of both halves (README, "Words
    the grammar laid silence over"): a change that lets another through fails.
    """
    manifest = make_set(demo_profile, tmp_path, "all", kinds=("extra-words",), jobs=2, every=11)
    assert main(["eval", str(manifest), "--jobs", "2"]) == 0
    extra = json.loads(capsys.readouterr().out.splitlines()[-1])["by_kind"]["extra-words"]
    assert extra["n"] >= 40 and extra["actions"] <= 1, extra


@needs("flite")
def test_a_paused_command_has_its_pause_between_two_phrases(tmp_path):
    """The words before the pause are said as a phrase of their own, then the pause, then the rest."""
    from carvoice.audio.wavfile import read_wav
    from carvoice.evaluation.generate import _render

    line = {"text": "set the temperature to twenty two degrees", "voice": "flite:slt", "speed": 160}
    assert _render(({**line, "pause": "before 2 0.45"}, tmp_path / "paused.wav", "", 0))
    assert _render((line, tmp_path / "whole.wav", "", 0))
    paused, whole = (read_wav(tmp_path / name) for name in ("paused.wav", "whole.wav"))
    frames = paused[: len(paused) // 160 * 160].astype(np.float64).reshape(-1, 160)
    levels = np.sqrt(np.mean(np.square(frames), axis=1))
    loud = np.flatnonzero(levels > 4 * np.median(levels[:30]))  # 12 dB over the noise floor of the lead-in
    longest_gap = int(np.max(np.diff(loud)) - 1) * 0.01
    # the pause, and the dying end of "twenty" and soft start of "two" around it (that is the point)
    assert 0.45 <= longest_gap < 1.0 and len(paused) - len(whole) >= 0.45 * 16000, (longest_gap, len(paused))
