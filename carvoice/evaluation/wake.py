"""Wake-phrase evaluation: clips joined into one long stream and run through the daemon's spotters.

Every engine that can spot a phrase hears the same stream (PocketSphinx any phrase in its
dictionary, microWakeWord a phrase with a shipped model), so their DET curves compare.

Counting follows Picovoice's wake-word benchmark: a detection that ends inside a clip
holding the phrase, or up to HIT_TOLERANCE seconds after it, is a hit (one per clip
at most); every other detection is a false alarm. False alarms are per hour of audio
outside the positive clips (negative clips, extra negative audio and the gaps).

The stream is built lazily, clip by clip, so that hours of negative audio never sit in
memory at once.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from carvoice.audio import FRAME_SAMPLES, SAMPLE_RATE
from carvoice.audio.noise import NoiseCondition
from carvoice.audio.wavfile import read_wav
from carvoice.evaluation.manifest import Item
from carvoice.profile import dictionary
from carvoice.profile.model import KEYPHRASE_THRESHOLD, MICRO, POCKETSPHINX, Profile
from carvoice.wake.micro import MicroModel

HIT_TOLERANCE = 0.5  # seconds after a clip in which a detection still counts as a hit
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
FALSE_ALARM_TARGET = 0.5  # per hour: the operating point the targets are set at (issue 11)
HALVES = ("tune", "report")
UNCHECKED = f"{POCKETSPHINX}, no check"  # the keyphrase search alone, without its second stage
# Second-stage fits tried on a swept PocketSphinx run (to choose CHECK_FIT on one half).
CHECK_GRID = (-30.0, -25.0, -20.0, -15.0, -10.0, -5.0, 0.0)


@dataclass(frozen=True)
class WakeRun:
    """What one pass over a stream produced, enough to score any threshold."""

    engine: str
    phrase: str
    threshold: float  # the daemon's operating point for this engine
    positives: list[tuple[int, int]]  # (start, end) sample of each clip holding the phrase
    total_samples: int
    detections: dict[float, list[int]]  # threshold -> end samples of its detections
    cpu_seconds: float
    errors: list[str] = field(default_factory=list)
    checks: dict[int, tuple[float, float]] = field(default_factory=dict)  # PocketSphinx's second stage

    def checked(self, fit: float) -> WakeRun:
        """The same run with only the detections that pass the second stage at `fit`."""
        from carvoice.wake.detector import PhraseCheck

        passed = {end for end, (f, pace) in self.checks.items() if PhraseCheck(f, pace).passes(fit)}
        detections = {t: [end for end in ends if end in passed] for t, ends in self.detections.items()}
        return replace(self, detections=detections)


@dataclass(frozen=True)
class WakeScore:
    threshold: float
    positives: int
    hits: int
    false_alarms: int
    negative_hours: float

    @property
    def miss_rate(self) -> float | None:
        return round(1 - self.hits / self.positives, 4) if self.positives else None

    @property
    def false_alarms_per_hour(self) -> float | None:
        return round(self.false_alarms / self.negative_hours, 4) if self.negative_hours else None


def score(run: WakeRun, threshold: float) -> WakeScore:
    """Hits and false alarms of one threshold's detections."""
    tolerance = round(HIT_TOLERANCE * SAMPLE_RATE)
    starts = [start for start, _ in run.positives]
    hit: set[int] = set()
    false_alarms = 0
    for end in run.detections.get(threshold, []):
        index = bisect.bisect_right(starts, end) - 1  # the last clip that began before this detection
        if index >= 0 and end <= run.positives[index][1] + tolerance:
            hit.add(index)
        else:
            false_alarms += 1
    positive_samples = sum(min(end + tolerance, run.total_samples) - start for start, end in run.positives)
    negative_hours = (run.total_samples - positive_samples) / SAMPLE_RATE / 3600
    return WakeScore(threshold, len(run.positives), len(hit), false_alarms, negative_hours)


def pooled(scores: list[WakeScore]) -> WakeScore:
    """Several phrases' scores at one threshold as one."""
    return WakeScore(
        scores[0].threshold,
        sum(s.positives for s in scores),
        sum(s.hits for s in scores),
        sum(s.false_alarms for s in scores),
        sum(s.negative_hours for s in scores),
    )


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


def wake_metrics(runs: list[WakeRun]) -> dict[str, Any]:
    """Per engine, pooled over its phrases; the first engine's figures also at the top level."""
    by_engine: dict[str, list[WakeRun]] = {}
    for run in runs:
        by_engine.setdefault(run.engine, []).append(run)
    engines = {engine: _engine_metrics(group) for engine, group in by_engine.items()}
    return {"engine": runs[0].engine} | engines[runs[0].engine] | {"engines": engines}


def _engine_metrics(runs: list[WakeRun]) -> dict[str, Any]:
    """The figures at the operating point; with a sweep, every threshold and the target point."""
    thresholds = sorted(runs[0].detections)
    at = runs[0].threshold
    main = pooled([score(run, at) for run in runs])
    audio_seconds = sum(run.total_samples for run in runs) / SAMPLE_RATE
    metrics: dict[str, Any] = {
        "n": sum(len(run.positives) for run in runs),
        "threshold": at,
        "miss_rate": main.miss_rate,
        "false_alarms": main.false_alarms,
        "false_alarms_per_hour": main.false_alarms_per_hour,
        "negative_hours": round(main.negative_hours, 4),
        "errors": sum(len(run.errors) for run in runs),
        "rtf": round(sum(run.cpu_seconds for run in runs) / audio_seconds, 4) if audio_seconds else None,
        "phrases": {
            run.phrase: {
                "n": len(run.positives),
                "miss_rate": s.miss_rate,
                "false_alarms_per_hour": s.false_alarms_per_hour,
            }
            for run in runs
            for s in [score(run, at)]
        },
    }
    if len(thresholds) > 1:
        curve = [pooled([score(run, t) for run in runs]) for t in thresholds]
        metrics["sweep"] = [
            {
                "threshold": s.threshold,
                "miss_rate": s.miss_rate,
                "false_alarms": s.false_alarms,
                "false_alarms_per_hour": s.false_alarms_per_hour,
            }
            for s in curve
        ]
        allowed = [
            s for s in curve if s.false_alarms_per_hour is not None and s.false_alarms_per_hour <= FALSE_ALARM_TARGET
        ]
        best = min(allowed, key=lambda s: (s.miss_rate or 0.0, s.threshold)) if allowed else None
        metrics[f"miss_rate_at_{FALSE_ALARM_TARGET:g}_fa_per_hour"] = best.miss_rate if best else None
        metrics[f"threshold_at_{FALSE_ALARM_TARGET:g}_fa_per_hour"] = best.threshold if best else None
    if any(run.checks for run in runs):
        metrics["check_grid"] = {
            f"{fit:g}": [
                [t, s.miss_rate, s.false_alarms_per_hour]
                for t in thresholds
                for s in [pooled([score(run.checked(fit), t) for run in runs])]
            ]
            for fit in CHECK_GRID
        }
    return metrics


def plot_det(runs: list[WakeRun], path: Path | str) -> None:
    """DET curves (miss rate against false alarms per hour, one line per engine and phrase) as PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError("the DET plot needs matplotlib: pip install 'carvoice[eval]'") from None
    figure, axes = plt.subplots(figsize=(6, 4.5))
    styles = {POCKETSPHINX: "-", UNCHECKED: ":", MICRO: "--"}
    for run in runs:
        points = [score(run, t) for t in sorted(run.detections)]
        axes.plot(
            [max(p.false_alarms_per_hour or 0.0, 1e-3) for p in points],
            [math.nan if p.miss_rate is None else p.miss_rate for p in points],
            linestyle=styles.get(run.engine, "-."),
            marker="o",
            markersize=3,
            label=f"{run.engine}: {run.phrase}",
        )
    axes.set_xscale("log")
    axes.set_xlabel("false alarms per hour (0 drawn at 0.001)")
    axes.set_ylabel("miss rate")
    axes.axvline(FALSE_ALARM_TARGET, color="grey", linestyle=":", linewidth=1)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    axes.set_title("carvoice wake phrase: detection error tradeoff")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
