"""Evaluation sets the project makes itself from a profile, in several synthetic voices and speeds:

- commands: every intent's examples (and optionally sampled phrasings);
- cut-offs: the same examples with the speaker stopping before the last one or two words, or
  inside the last word. A cut that leaves a complete command ("set the temperature to twenty
  two" before "degrees") is labelled as that command; every other cut must cause nothing;
- pauses: the same examples whole (and any sampled phrasings), with a pause before one of their
  last two words and inside every number of several words: a command ended in the pause ("set
  the temperature to twenty" before "six") is a wrong action;
- near misses: sentences that share a carrier phrase with a car's commands but name something
  the profile does not have ("turn on the radio"); they must cause no action and no answer;
- talk: everyday speech that is not a command.
"""

from __future__ import annotations

import random
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from carvoice.audio import SAMPLE_RATE
from carvoice.audio.synth import ESPEAK_VOICES, FLITE_VOICES, silence, speech, with_noise_floor
from carvoice.audio.wavfile import write_wav
from carvoice.check import load_profile
from carvoice.evaluation.manifest import write_manifest
from carvoice.profile.model import Profile
from carvoice.profile.summary import examples_of

ESPEAK_SPEEDS = (140, 175)
LEAD_SECONDS = 0.5
TRAIL_SECONDS = 0.8
# A cut ends with a short fade, as a voice that stops does: a hard cut leaves a click that the
# recogniser hears as noise, which would make cut-offs easier to spot than they are.
FADE_SECONDS = 0.02
# Where inside the last word a cut may fall (shares of its aligned length): near either edge the
# word is all there or not there at all, which the "before" cuts already cover. Cuts after
# LATE_CUT leave most of the word's sounds (the aligned word also holds the sound dying away):
# those are counted apart, as "cut-late", because a listener often hears the word whole.
INSIDE_CUT = (0.15, 0.85)
LATE_CUT = 0.6
# A pause before one of the last two words or inside a number, as a speaker who thinks mid-command
# makes ("set the temperature to twenty ... six"): the quiet word edges around it make it about 0.2 s longer to an
# energy endpointer, which is what ended such commands early.
PAUSE_SECONDS = (0.3, 0.5)
SPEECH_EDGE = 1e-3  # where a synthesised phrase's sound starts and ends (-60 dBFS)
FRAME = SAMPLE_RATE // 100  # the decoder's 10 ms frame
KINDS = ("commands", "cut-offs", "pauses", "near-misses", "extra-words", "talk")
VOICE_HALVES = {
    "half1": ("en-us", "en-us+f3", "en-us+m7", "flite:slt", "flite:rms"),
    "half2": ("en-us+m3", "en-gb", "flite:kal16", "flite:awb"),
}
# British voices of espeak-ng kept out of both halves: the British forms of words were chosen on
# them (README, "British speakers"), so half 2's en-gb still reports on a voice they never heard.
BRITISH_VOICES = ("en-gb-x-rp", "en-gb-x-gbcwmd")
# American voices of espeak-ng in no other set, for reporting a rule fixed on half 1 once more, when
# half 2 has already shown it something (README, "Words begun and cut off"). A rule chosen on them
# needs yet another set.
FRESH_VOICES = (("en-us+m2", 175), ("en-us+f2", 140), ("en-us-nyc", 160))

# Speech a driver or a radio might produce that is not a command of the demo car; several
# are near misses that share words with real commands.
NOT_COMMANDS = (
    "what a lovely day it is today",
    "call my mother please",
    "play some jazz on the radio",
    "how far is the nearest gas station",
    "open the door for me",
    "turn left at the next light",
    "i would like a coffee",
    "navigate home",
    "what time is it",
    "tell me a joke",
    "is it going to rain tomorrow",
    "send a message to john",
    "turn up the volume",
    "find a parking spot",
    "the window is dirty",
    "i think the heater is broken",
    "let's get some lunch",
    "can you hear me",
    "open the garage",
    "turn on the radio",
    "close the door",
    "set an alarm for seven",
    "the lights are too bright",
    "my seat is uncomfortable",
    "we should open a bakery",
    "the trunk is full of shopping",
    "lock the front door when you leave",
    "turn the music down please",
    "the fan club meets on thursday",
    "set the table for dinner",
    "where is the nearest charging station",
    "it is getting cold in here",
    "do you know the way to the airport",
    "i love this song",
    "the kids are asleep in the back",
    "we are almost there",
)

# What a driver might ask a car that a car profile may not have: each shares its carrier
# phrase ("turn on the", "set the ... to", "open the", "what is the") with common commands.
# Sentences the profile under test can parse are left out of its set.
NEAR_MISSES = (
    "turn on the radio",
    "turn off the radio",
    "switch on the radio",
    "turn off the engine",
    "switch off the engine",
    "turn on the high beams",
    "turn on the parking lights",
    "turn on the reading light",
    "turn off the brake lights",
    "turn on the rear wipers",
    "turn on the front defroster",
    "turn on the heated steering wheel",
    "turn on the seat massage",
    "turn off the lane assist",
    "turn on the cruise control",
    "turn on the navigation",
    "turn on the parking sensors",
    "turn on bluetooth",
    "switch on the camera",
    "switch off the alarm",
    "turn the music on",
    "turn the music off",
    "turn the volume up",
    "turn the radio down",
    "open the garage door",
    "close the garage door",
    "open the glove box",
    "close the glove box",
    "open the hood",
    "close the hood",
    "open the fuel door",
    "open the charging port",
    "open the back window",
    "close the side mirrors",
    "fold the mirrors",
    "lock the windows",
    "unlock the trunk",
    "lock the garage",
    "unlock my phone",
    "call my mother",
    "call my wife",
    "call home",
    "set the volume to five",
    "set the radio to ninety nine",
    "set the cruise control to eighty",
    "set the alarm to seven",
    "set the clock to nine",
    "set the fan to maximum",
    "set the fan to ten",
    "set the temperature to hot",
    "set the temperature to forty",
    "set the seat to two",
    "make it louder",
    "make it quieter",
    "make it brighter",
    "play the next song",
    "skip this song",
    "what is my fuel economy",
    "what is the tire pressure",
    "what is the oil level",
    "how much range do i have",
    "what is my average speed",
    "is the window open",
    "are the lights on",
    "is the engine running",
)


# Words around a command that withdraw it, put it off or ask for more than it says: the command's
# own words are all there, so none of these is a command to carry out now ("don't open the boot").
# One per example command that acts, voice by voice, chosen by the set's seed.
EXTRA_WORDS = (
    ("don't", ""),
    ("do not", ""),
    ("never", ""),
    ("you don't need to", ""),
    ("", "and the radio"),
    ("", "no wait"),
    ("", "in ten minutes"),
    ("", "when we get home"),
    ("", "or not"),
    ("", "tomorrow"),
)


_ESPEAK = [(v, s) for v in ESPEAK_VOICES for s in ESPEAK_SPEEDS]
_FLITE = [(f"flite:{v}", 160) for v in FLITE_VOICES]
VOICE_SETS: dict[str, list[tuple[str, int]]] = {
    "espeak": _ESPEAK,
    "flite": _FLITE,
    "all": _ESPEAK + _FLITE,
    **{half: [(v, s) for v, s in _ESPEAK + _FLITE if v in chosen] for half, chosen in VOICE_HALVES.items()},
    "british": [(v, s) for v in BRITISH_VOICES for s in ESPEAK_SPEEDS],
    "fresh": list(FRESH_VOICES),
}


def voices(kind: str) -> list[tuple[str, int]]:
    """(voice, speed) pairs: 'espeak', 'flite', 'all', one of the halves 'half1' and 'half2', 'british' or 'fresh'.

    The halves share no voice, so that constants tuned on one half are reported on voices
    they never heard (each half has espeak-ng and flite voices, male and female).
    """
    return list(VOICE_SETS[kind])


def plan_set(
    profile: Profile,
    voice_kind: str = "all",
    sampled: int = 0,
    kinds: tuple[str, ...] = ("commands", "talk"),
    seed: int = 0,
) -> list[dict[str, Any]]:
    """The lines of the set (text, voice, speed, kind, label, and how to cut), before any audio exists."""
    rng = random.Random(seed)
    pause_rng = random.Random(seed)  # its own, so that the sets made before pauses existed stay the same
    extra_rng = random.Random(seed)  # its own too, for the same reason
    near_misses = [t for t in NEAR_MISSES if not profile.grammar.parse(t.split())]
    lines = []
    for voice, speed in voices(voice_kind):
        said = {"voice": voice, "speed": speed}
        examples = [s for name in profile.intents for s in _examples(profile, name)]
        if "commands" in kinds:
            for name in profile.intents:
                sentences = _examples(profile, name) + [profile.grammar.sample(name, rng) for _ in range(sampled)]
                for text in dict.fromkeys(sentences):
                    lines.append({"text": text, **said, "kind": "command", **_label(profile, text.lower().split())})
        if "cut-offs" in kinds:
            for text in examples:
                lines += _cuts(profile, text, said, rng)
        if "pauses" in kinds:
            more = [profile.grammar.sample(name, pause_rng) for name in profile.intents for _ in range(sampled)]
            for text in dict.fromkeys(examples + more):
                lines += _pauses(profile, text, said, pause_rng)
        if "near-misses" in kinds:
            lines += [{"text": t, **said, "kind": "near-miss", "intent": None} for t in near_misses]
        if "extra-words" in kinds:
            acting = [s for name in profile.intents if profile.intents[name].actions for s in _examples(profile, name)]
            for text in acting:
                before, after = extra_rng.choice(EXTRA_WORDS)
                wrapped = " ".join(w for w in (before, text, after) if w)
                lines.append({"text": wrapped, **said, "kind": "extra-words", "intent": None})
        if "talk" in kinds:
            lines += [{"text": t, **said, "kind": "talk", "intent": None} for t in NOT_COMMANDS]
    return lines


def _examples(profile: Profile, name: str) -> list[str]:
    return list(examples_of(profile, name, len(profile.intents[name].examples) or 1))


def _label(profile: Profile, words: list[str]) -> dict[str, Any]:
    readings = profile.readings(words)
    if len(readings) != 1:
        return {"intent": None}
    intent, slots = readings[0]
    return {"intent": intent, "slots": slots}


def _cuts(profile: Profile, text: str, said: dict[str, Any], rng: random.Random) -> list[dict[str, Any]]:
    """One cut before the last one or two words, and one inside the last word, where the sentence allows."""
    words = text.lower().split()
    lines = []
    if len(words) >= 2:
        drop = rng.choice((1, 2)) if len(words) >= 3 else 1
        label = _label(profile, words[:-drop])
        kind = "command" if label["intent"] else "cut-before"
        lines.append({"text": text, **said, "kind": kind, "cut": f"before {drop}", **label})
    if len(words) >= 2 and not profile.readings(words[:-1]):
        share = round(rng.uniform(*INSIDE_CUT), 2)
        kind = "cut-inside" if share <= LATE_CUT else "cut-late"
        lines.append({"text": text, **said, "kind": kind, "cut": f"inside {share}", "intent": None})
    return lines


def _pauses(profile: Profile, text: str, said: dict[str, Any], rng: random.Random) -> list[dict[str, Any]]:
    """The whole command with a pause before its last word or the one before, and one inside each
    number of several words ("twenty ... two", where "twenty" alone is another command): still
    that command."""
    words = text.lower().split()
    if len(words) < 2:
        return []
    befores = {rng.choice((1, 2)) if len(words) >= 3 else 1}
    [parse] = profile.grammar.parse(words)[:1]
    numbers = [(start, end) for name, _, start, end in parse.spans if not isinstance(parse.slot_dict[name], str)]
    befores |= {len(words) - start - 1 for start, end in numbers if end - start >= 2}
    label = _label(profile, words)
    lines = []
    for before in sorted(befores):
        pause = f"before {before} {round(rng.uniform(*PAUSE_SECONDS), 2)}"
        lines.append({"text": text, **said, "kind": "paused", "pause": pause, **label})
    return lines


_aligner: dict[str, Any] = {}


def _init_aligner(profile_dir: str | None) -> None:
    if profile_dir is not None:
        from carvoice.recognise.engine import engine_for

        _aligner["engine"] = engine_for(load_profile(profile_dir))


def _render(job: tuple[dict[str, Any], Path, str, int]) -> bool:
    """Write one line's audio; False when a cut could not be placed (the aligner lost the words)."""
    line, path, prefix, seed = job
    spoken = prefix + line["text"]
    if "pause" in line:
        voiced = np.concatenate([silence(LEAD_SECONDS), _paused(spoken, line["pause"], line["voice"], line["speed"])])
    else:
        voiced = np.concatenate([silence(LEAD_SECONDS), speech(spoken, line["voice"], line["speed"])])
    if "cut" in line:
        end = _cut_point(voiced, spoken.lower().replace(",", "").split(), line["cut"], seed)
        if end is None:
            return False
        fade = min(round(FADE_SECONDS * SAMPLE_RATE), end)
        voiced = voiced[:end].copy()
        voiced[end - fade :] *= 0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, fade))
    write_wav(path, with_noise_floor(np.concatenate([voiced, silence(TRAIL_SECONDS)]), seed))
    return True


def _paused(spoken: str, pause: str, voice: str, speed: int) -> np.ndarray:
    """The words before the pause said as a phrase of their own (a speaker who stops lets the last
    word die away, as one that goes on does not), the pause, then the rest."""
    _, before, seconds = pause.split()
    words = spoken.split()
    first, rest = (speech(" ".join(part), voice, speed) for part in (words[: -int(before)], words[-int(before) :]))
    said = [np.flatnonzero(np.abs(part) > SPEECH_EDGE) for part in (first, rest)]
    return np.concatenate([first[: said[0][-1] + 1], silence(float(seconds)), rest[said[1][0] :]])


def _cut_point(voiced: np.ndarray, words: list[str], cut: str, seed: int) -> int | None:
    """The sample where the speaker stops, from a forced alignment of everything said."""
    where, amount = cut.split()
    aligned = _aligner["engine"].decode_sentences([tuple(words)], with_noise_floor(voiced, seed))
    if aligned is None:
        return None
    segments = [s for s in aligned.segments if s.word.split("(")[0] in words]
    if [s.word.split("(")[0] for s in segments] != words:
        return None
    if where == "before":
        return segments[-int(amount)].start_frame * FRAME
    last = segments[-1]
    return round((last.start_frame + float(amount) * last.frames) * FRAME)


def make_set(
    profile: Profile,
    out: Path,
    voice_kind: str = "all",
    sampled: int = 0,
    kinds: tuple[str, ...] = ("commands", "talk"),
    wake_prefix: bool = False,
    jobs: int = 0,
    every: int = 1,
) -> Path:
    """Synthesise the set into `out` (WAVs and manifest.jsonl); returns the manifest path.

    `every` > 1 keeps only every so many planned lines: a spread sample, for tests.
    """
    out.mkdir(parents=True, exist_ok=True)
    lines = plan_set(profile, voice_kind, sampled, kinds)[::every]
    prefix = f"{profile.wake.phrase}, " if wake_prefix else ""
    jobs_list = []
    for index, line in enumerate(lines):
        line["audio"] = f"{index:05d}.wav"
        if wake_prefix:
            line["wake_prefixed"] = True
        jobs_list.append((line, out / line["audio"], prefix, index))
    aligner = str(profile.root) if "cut-offs" in kinds else None
    with ProcessPoolExecutor(max_workers=jobs or None, initializer=_init_aligner, initargs=(aligner,)) as pool:
        written = list(pool.map(_render, jobs_list, chunksize=8))
    manifest = out / "manifest.jsonl"
    kept = [line for line, ok in zip(lines, written, strict=True) if ok]
    write_manifest(
        manifest, [{"audio": line["audio"], **{k: v for k, v in line.items() if k != "audio"}} for line in kept]
    )
    return manifest
