"""Wake-phrase evaluation: clips joined into one long stream and run through the daemon's spotters.

Every engine that can spot a phrase hears the same stream (PocketSphinx any phrase in its
dictionary, microWakeWord a phrase with a shipped model), so their DET curves compare.

Scoring the runs is carvoice.evaluation.wake_scores.

The stream is built lazily, clip by clip, so that hours of negative audio never sit in
memory at once.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

from carvoice.audio import FRAME_SAMPLES, SAMPLE_RATE
from carvoice.audio.noise import NoiseCondition
from carvoice.audio.wavfile import read_wav
from carvoice.evaluation.manifest import Item
from carvoice.evaluation.wake_scores import UNCHECKED, WakeRun
from carvoice.profile import dictionary
from carvoice.profile.model import KEYPHRASE_THRESHOLD, MICRO, POCKETSPHINX, Profile
from carvoice.wake.micro import MicroModel

GAP_SECONDS = 1.0  # between clips, so one clip's tail never runs into the next word
# Sweep grid: PocketSphinx's keyphrase ratio spans many orders of magnitude; with the
# engine's tiny phone-loop penalty the useful range sits far above the default 1e-30 (at 1e-20
# it woke 430 times an hour on the shared real speech in kitchen noise, and lower only more).
SWEEP_THRESHOLDS = tuple(float(f"1e{k}") for k in range(-20, 61, 5))
# microWakeWord's cutoff is a probability; the useful range is near 1.
MICRO_SWEEP = (0.3, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99, 0.995)
# A sweep keeps listening after a hit (the daemon stops and restarts); a phrase still above the
# cutoff is one detection, and a new one counts only after this long.
REFRACTORY_SECONDS = 1.5
HALVES = ("tune", "report")


def negative_files(spec: str | Path | None) -> list[Path]:
    """--negatives: one WAV, or every WAV under a folder (sorted, so runs repeat)."""
    if not spec:
        return []
    path = Path(spec)
    if not path.is_dir():
        return [path]
    found = []  # os.walk, unlike Path.rglob before Python 3.13, follows linked folders
    for folder, _, names in os.walk(path, followlinks=True):
        found += [Path(folder) / name for name in names if name.lower().endswith(".wav")]
    return sorted(found)


def half_of(path: Path) -> str:
    """Which half a recording falls in, by a hash of its file name: thresholds are chosen on
    "tune" and reported on "report", and the same file always lands in the same half."""
    return HALVES[hashlib.sha256(path.name.encode()).digest()[0] % 2]


def plan(items: list[Item], phrase: str, negatives: list[Path]) -> list[tuple[Path, bool]]:
    """The stream's clips in order: (audio, holds the phrase). Other phrases' clips are negatives."""
    return [(item.audio, item.wake == phrase) for item in items if item.is_wake_item] + [(p, False) for p in negatives]


def can_spot(engine: str, phrase: str, profile: Profile) -> bool:
    """PocketSphinx spots any phrase whose words it knows; microWakeWord needs a model for it."""
    if engine == MICRO:
        return _micro_model(phrase, profile) is not None
    words = set(phrase.split())
    return words <= set(dictionary.lookup(words)) | set(profile.pronunciations)


def _micro_model(phrase: str, profile: Profile) -> MicroModel | None:
    """The profile's own model for its phrase, else a shipped model named after the phrase."""
    from carvoice.wake.micro import builtin_models, load_model, models_dir

    if profile.wake.engine == MICRO and phrase == profile.wake.phrase:
        return profile.wake.model
    name = phrase.replace(" ", "_")
    return load_model(models_dir() / f"{name}.json") if name in builtin_models() else None


def _operating_point(engine: str, phrase: str, profile: Profile) -> float:
    """The profile's threshold for its own engine; another engine's default otherwise."""
    if engine == profile.wake.engine:
        return profile.wake.threshold
    if engine == MICRO:
        return _micro_model(phrase, profile).cutoff  # type: ignore[union-attr]
    return KEYPHRASE_THRESHOLD


def run_stream(
    profile_dir: str,
    engine_name: str,
    phrase: str,
    clips: list[tuple[Path, bool]],
    condition: NoiseCondition,
    sweep: bool,
    progress: Callable[[int], None] | None = None,
) -> WakeRun:
    """One pass of the stream through one engine's spotter.

    Without `sweep`, the spotter runs exactly as in the daemon (one threshold, stopping at
    each hit and listening afresh); with it, every threshold of the engine's grid is scored
    in the same pass.
    """
    from carvoice.check import load_profile

    profile = load_profile(profile_dir)
    at = _operating_point(engine_name, phrase, profile)
    if engine_name == MICRO:
        spot = _micro_detections(_micro_model(phrase, profile), at, sweep)  # type: ignore[arg-type]
    else:
        spot = _keyphrase_detections(profile, phrase, at, sweep)
    stream = Stream(clips, condition, progress)
    started = time.process_time()
    detections, checks = spot(stream.frames())
    cpu = time.process_time() - started
    return WakeRun(engine_name, phrase, at, stream.positives, stream.position, detections, cpu, stream.errors, checks)


class Stream:
    """The clips joined into one stream, noise running through; where the positives lie is known
    once the frames have been read."""

    def __init__(
        self, clips: list[tuple[Path, bool]], condition: NoiseCondition, progress: Callable[[int], None] | None = None
    ) -> None:
        self.clips, self.condition, self.progress = clips, condition, progress
        self.positives: list[tuple[int, int]] = []  # (start, end) sample of each clip holding the phrase
        self.errors: list[str] = []
        self.position = 0

    def frames(self) -> Iterator[np.ndarray]:
        noise = self.condition.load()
        for index, (path, holds_phrase) in enumerate(self.clips):
            try:
                clip = read_wav(path)
            except Exception as error:  # one unreadable file is one error, not a failed evaluation
                self.errors.append(str(error))
                continue
            audio = self.condition.apply(clip, noise, index, tail=round(GAP_SECONDS * SAMPLE_RATE))
            if holds_phrase:
                self.positives.append((self.position, self.position + len(clip)))
            for start in range(0, len(audio), FRAME_SAMPLES):
                yield audio[start : start + FRAME_SAMPLES]
            self.position += len(audio)
            if self.progress is not None:
                self.progress(index + 1)


Detections = dict[float, list[int]]  # threshold -> end samples of its detections
Checks = dict[int, tuple[float, float]]  # end sample -> the second stage's fit and seconds per phone


def _keyphrase_detections(
    profile: Profile, phrase: str, at: float, sweep: bool
) -> Callable[[Iterator[np.ndarray]], tuple[Detections, Checks]]:
    """PocketSphinx's spotting; in a sweep each spotted phrase is also checked (second stage)
    by a second engine, so the stream's own search is never interrupted."""
    from carvoice.recognise.engine import WAKE, WAKE_SWEEP, engine_for
    from carvoice.wake.detector import CHECK_TAIL_SECONDS, WakeDetector, check_phrase

    engine = engine_for(profile, wake_phrase=phrase, wake_threshold=at)
    texts = engine.add_wake_sweep(phrase, sorted({*SWEEP_THRESHOLDS, at})) if sweep else {phrase: at}
    detector = WakeDetector(engine, WAKE_SWEEP if sweep else WAKE)
    checker = engine_for(profile, wake_phrase=phrase) if sweep else None

    def spot(frames: Iterator[np.ndarray]) -> tuple[Detections, Checks]:
        detections: Detections = {t: [] for t in texts.values()}
        checks: Checks = {}
        waiting: list[tuple[int, int]] = []  # spotted, checked once CHECK_TAIL_SECONDS of audio followed
        tail = round(CHECK_TAIL_SECONDS * SAMPLE_RATE)
        detector.restart(0)
        position = 0
        for frame in frames:
            position += len(frame)
            if checker is None:
                if (end := detector.feed(frame)) is not None:
                    detections[at].append(end)
                    detector.restart(position)
                continue
            for text, start, end in detector.feed_all(frame):
                detections[texts[text]].append(end)
                if end not in checks:
                    checks[end] = (-math.inf, 0.0)
                    waiting.append((start, end))
            while waiting and position >= waiting[0][1] + tail:
                start, end = waiting.pop(0)
                check = check_phrase(checker, detector.audio(start, position)[1])
                checks[end] = (check.fit, check.seconds_per_phone)
        engine.stop()
        return detections, checks

    return spot


def _micro_detections(
    model: MicroModel, at: float, sweep: bool
) -> Callable[[Iterator[np.ndarray]], tuple[Detections, Checks]]:
    from carvoice.wake.micro import FIRING_LAG_SECONDS, MicroSpotter

    spotter = MicroSpotter(model, at)
    cutoffs = sorted({*MICRO_SWEEP, at}) if sweep else [at]
    lag = round(FIRING_LAG_SECONDS * SAMPLE_RATE)

    def spot(frames: Iterator[np.ndarray]) -> tuple[Detections, Checks]:
        detections: Detections = {t: [] for t in cutoffs}
        spotter.restart(0)
        position = 0
        if not sweep:
            for frame in frames:
                position += len(frame)
                if (end := spotter.feed(frame)) is not None:
                    detections[at].append(end)
                    spotter.restart(position)
            return detections, {}
        steps = (step for frame in frames for step in spotter.probabilities(frame))
        return cutoff_detections(steps, cutoffs, lag), {}

    return spot


def cutoff_detections(steps: Iterator[tuple[int, float]], cutoffs: list[float], lag: int = 0) -> Detections:
    """Every cutoff's detections from one pass over a network's (sample, probability) steps.

    A detection is the probability rising above the cutoff (reported `lag` samples earlier);
    it counts again only after falling back and REFRACTORY_SECONDS.
    """
    refractory = round(REFRACTORY_SECONDS * SAMPLE_RATE)
    detections: Detections = {t: [] for t in cutoffs}
    armed = dict.fromkeys(cutoffs, True)
    last = dict.fromkeys(cutoffs, -refractory)
    for sample, probability in steps:
        for cutoff in cutoffs:
            if probability <= cutoff:
                armed[cutoff] = True
            elif armed[cutoff] and sample - last[cutoff] > refractory:
                detections[cutoff].append(max(0, sample - lag))
                armed[cutoff], last[cutoff] = False, sample
    return detections


def evaluate_wake(
    profile_dir: Path | str,
    items: list[Item],
    condition: NoiseCondition,
    negatives: list[Path],
    sweep: bool = False,
    jobs: int = 0,
    progress: Callable[[int, int], None] | None = None,
    engines: tuple[str, ...] | None = None,
    phrases: tuple[str, ...] | None = None,
) -> list[WakeRun]:
    """One run per engine and wake phrase it can spot, in parallel processes when there are several.

    `engines` defaults to the profile's own; `phrases` to every phrase in the manifest.
    """
    from carvoice.check import load_profile

    profile = load_profile(profile_dir)
    engines = engines or (profile.wake.engine,)
    present = sorted({item.wake for item in items if item.is_wake_item and item.wake})
    wanted = [p for p in present if phrases is None or p in phrases]
    if not wanted:
        raise ValueError("the manifest has no clip holding a wake phrase" + (f" of {list(phrases)}" if phrases else ""))
    tasks = [(engine, phrase) for engine in engines for phrase in wanted if can_spot(engine, phrase, profile)]
    if not tasks:
        raise ValueError(f"no engine of {list(engines)} can spot any of {wanted}")
    plans = {phrase: plan(items, phrase, negatives) for phrase in wanted}
    if len(tasks) == 1 or jobs == 1:
        total = sum(len(plans[phrase]) for _, phrase in tasks)
        done = 0
        runs = []
        for engine, phrase in tasks:

            def tick(count: int, before: int = done) -> None:
                if progress is not None:
                    progress(before + count, total)

            runs.append(run_stream(str(profile_dir), engine, phrase, plans[phrase], condition, sweep, tick))
            done += len(plans[phrase])
    else:
        workers = min(len(tasks), jobs or os.cpu_count() or 1)
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [
                pool.submit(run_stream, str(profile_dir), engine, phrase, plans[phrase], condition, sweep)
                for engine, phrase in tasks
            ]
            runs = [future.result() for future in futures]
    return [split for run in runs for split in _second_stage(run)]


def _second_stage(run: WakeRun) -> list[WakeRun]:
    """A swept PocketSphinx run as the daemon hears it (checked) and as the first stage alone, same audio."""
    if run.engine != POCKETSPHINX or not run.checks:
        return [run]
    from carvoice.wake.detector import CHECK_FIT

    return [run.checked(CHECK_FIT), replace(run, engine=UNCHECKED)]


