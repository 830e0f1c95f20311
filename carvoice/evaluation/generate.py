"""Evaluation sets the project makes itself from a profile: every intent's examples and
sampled phrasings in several synthetic voices and speeds, plus talk that is not a command."""

from __future__ import annotations

import random
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from carvoice.audio.synth import ESPEAK_VOICES, FLITE_VOICES, utterance
from carvoice.audio.wavfile import write_wav
from carvoice.evaluation.manifest import write_manifest
from carvoice.profile.model import Profile
from carvoice.profile.summary import examples_of

ESPEAK_SPEEDS = (140, 175)
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


def voices(kind: str) -> list[tuple[str, int]]:
    """(voice, speed) pairs: 'espeak', 'flite' or 'all'."""
    pairs: list[tuple[str, int]] = []
    if kind in ("espeak", "all"):
        pairs += [(v, s) for v in ESPEAK_VOICES for s in ESPEAK_SPEEDS]
    if kind in ("flite", "all"):
        pairs += [(f"flite:{v}", 160) for v in FLITE_VOICES]
    return pairs


def plan_set(
    profile: Profile, voice_kind: str = "all", sampled: int = 0, negatives: bool = True, seed: int = 0
) -> list[dict[str, Any]]:
    """The lines of the set: text, voice, speed and label, before any audio exists."""
    rng = random.Random(seed)
    lines = []
    for voice, speed in voices(voice_kind):
        for name in profile.intents:
            sentences = list(examples_of(profile, name, len(profile.intents[name].examples) or 1))
            sentences += [profile.grammar.sample(name, rng) for _ in range(sampled)]
            for text in dict.fromkeys(sentences):
                [(intent, slots)] = profile.readings(text.lower().split())
                lines.append({"text": text, "voice": voice, "speed": speed, "intent": intent, "slots": slots})
        if negatives:
            lines += [{"text": t, "voice": voice, "speed": speed, "intent": None} for t in NOT_COMMANDS]
    return lines


def _render(job: tuple[dict[str, Any], Path, str, int]) -> None:
    line, path, prefix, seed = job
    write_wav(path, utterance(prefix + line["text"], line["voice"], line["speed"], seed=seed))


def make_set(
    profile: Profile,
    out: Path,
    voice_kind: str = "all",
    sampled: int = 0,
    negatives: bool = True,
    wake_prefix: bool = False,
    jobs: int = 0,
) -> Path:
    """Synthesise the set into `out` (WAVs and manifest.jsonl); returns the manifest path."""
    out.mkdir(parents=True, exist_ok=True)
    lines = plan_set(profile, voice_kind, sampled, negatives)
    prefix = f"{profile.wake.phrase}, " if wake_prefix else ""
    jobs_list = []
    for index, line in enumerate(lines):
        name = f"{index:05d}.wav"
        line["audio"] = name
        if wake_prefix:
            line["wake_prefixed"] = True
        jobs_list.append((line, out / name, prefix, index))
    with ProcessPoolExecutor(max_workers=jobs or None) as pool:
        list(pool.map(_render, jobs_list, chunksize=8))
    manifest = out / "manifest.jsonl"
    write_manifest(
        manifest, [{"audio": line["audio"], **{k: v for k, v in line.items() if k != "audio"}} for line in lines]
    )
    return manifest
