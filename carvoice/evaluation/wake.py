"""Wake-phrase evaluation: clips joined into one long stream and run through the daemon's detector.

Counting follows Picovoice's wake-word benchmark: a detection that ends inside a clip
holding the phrase, or up to HIT_TOLERANCE seconds after it, is a hit (one per clip
at most); every other detection is a false alarm. False alarms are per hour of audio
outside the positive clips (negative clips, extra negative audio and the gaps).

The stream is built lazily, clip by clip, so that hours of negative audio never sit in
memory at once.
"""

from __future__ import annotations

import bisect
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from carvoice.audio import FRAME_SAMPLES, SAMPLE_RATE
from carvoice.audio.noise import NoiseCondition
from carvoice.audio.wavfile import read_wav
from carvoice.evaluation.manifest import Item

HIT_TOLERANCE = 0.5  # seconds after a clip in which a detection still counts as a hit
GAP_SECONDS = 1.0  # between clips, so one clip's tail never runs into the next word
# Sweep grid: PocketSphinx's keyphrase ratio spans many orders of magnitude; with the
# engine's tiny phone-loop penalty the useful range sits far above the default 1e-30.
SWEEP_THRESHOLDS = tuple(float(f"1e{k}") for k in range(-60, 61, 5))
FALSE_ALARM_TARGET = 0.1  # per hour: the operating point the targets are set at


@dataclass(frozen=True)
class WakeRun:
    """What one pass over a stream produced, enough to score any threshold."""

    phrase: str
    threshold: float  # the profile's: the daemon's operating point
    positives: list[tuple[int, int]]  # (start, end) sample of each clip holding the phrase
    total_samples: int
    detections: dict[float, list[int]]  # threshold -> end samples of its detections
    cpu_seconds: float
    errors: list[str] = field(default_factory=list)


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


def plan(items: list[Item], phrase: str, negatives: list[Path]) -> list[tuple[Path, bool]]:
    """The stream's clips in order: (audio, holds the phrase). Other phrases' clips are negatives."""
    return [(item.audio, item.wake == phrase) for item in items if item.is_wake_item] + [(p, False) for p in negatives]


def run_stream(
    profile_dir: str,
    phrase: str,
    clips: list[tuple[Path, bool]],
    condition: NoiseCondition,
    thresholds: tuple[float, ...] | None,
    progress: Callable[[int], None] | None = None,
) -> WakeRun:
    """One pass of the stream through the daemon's WakeDetector.

    Without `thresholds`, the detector runs exactly as in the daemon (the profile's
    threshold, stopping at each hit and listening afresh); with them, every threshold
    is spotted at once (see SpeechEngine.add_wake_sweep).
    """
    from carvoice.profile.loader import load_profile
    from carvoice.recognise.engine import WAKE, WAKE_SWEEP, engine_for
    from carvoice.wake.detector import WakeDetector

    profile = load_profile(profile_dir)
    engine = engine_for(profile, wake_phrase=phrase)
    if thresholds:
        texts = engine.add_wake_sweep(phrase, sorted({*thresholds, profile.wake.threshold}))
        detector = WakeDetector(engine, WAKE_SWEEP)
    else:
        texts = {phrase: profile.wake.threshold}
        detector = WakeDetector(engine, WAKE)
    noise = condition.load()
    positives: list[tuple[int, int]] = []
    detections: dict[float, list[int]] = {t: [] for t in texts.values()}
    errors: list[str] = []
    position = 0

    def frames() -> Iterator[np.ndarray]:
        nonlocal position
        for index, (path, holds_phrase) in enumerate(clips):
            try:
                clip = read_wav(path)
            except Exception as error:  # one unreadable file is one error, not a failed evaluation
                errors.append(str(error))
                continue
            audio = condition.apply(clip, noise, index, tail=round(GAP_SECONDS * SAMPLE_RATE))
            if holds_phrase:
                positives.append((position, position + len(clip)))
            for start in range(0, len(audio), FRAME_SAMPLES):
                yield audio[start : start + FRAME_SAMPLES]
            position += len(audio)
            if progress is not None:
                progress(index + 1)

    started = time.process_time()
    detector.restart(0)
    for frame in frames():
        if thresholds:
            for text, end in detector.feed_all(frame):
                detections[texts[text]].append(end)
        else:
            end = detector.feed(frame)
            if end is not None:
                detections[profile.wake.threshold].append(end)
    engine.stop()
    return WakeRun(
        phrase, profile.wake.threshold, positives, position, detections, time.process_time() - started, errors
    )


def evaluate_wake(
    profile_dir: Path | str,
    items: list[Item],
    condition: NoiseCondition,
    negatives: list[Path],
    sweep: bool = False,
    jobs: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> list[WakeRun]:
    """One run per wake phrase in the manifest, in parallel processes when there are several."""
    phrases = sorted({item.wake for item in items if item.is_wake_item and item.wake})
    if not phrases:
        raise ValueError("the manifest has no clip holding a wake phrase")
    thresholds = SWEEP_THRESHOLDS if sweep else None
    plans = {phrase: plan(items, phrase, negatives) for phrase in phrases}
    if len(phrases) == 1 or jobs == 1:
        total = sum(len(p) for p in plans.values())
        done = 0
        runs = []
        for phrase in phrases:

            def tick(count: int, before: int = done) -> None:
                if progress is not None:
                    progress(before + count, total)

            runs.append(run_stream(str(profile_dir), phrase, plans[phrase], condition, thresholds, tick))
            done += len(plans[phrase])
        return runs
    workers = min(len(phrases), jobs or os.cpu_count() or 1)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [
            pool.submit(run_stream, str(profile_dir), phrase, plans[phrase], condition, thresholds)
            for phrase in phrases
        ]
        return [future.result() for future in futures]


def wake_metrics(runs: list[WakeRun]) -> dict[str, Any]:
    """The figures at the profile's threshold; with a sweep, every threshold and the target point."""
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
            {"threshold": s.threshold, "miss_rate": s.miss_rate, "false_alarms_per_hour": s.false_alarms_per_hour}
            for s in curve
        ]
        allowed = [
            s for s in curve if s.false_alarms_per_hour is not None and s.false_alarms_per_hour <= FALSE_ALARM_TARGET
        ]
        best = min(allowed, key=lambda s: (s.miss_rate or 0.0, s.threshold)) if allowed else None
        metrics[f"miss_rate_at_{FALSE_ALARM_TARGET:g}_fa_per_hour"] = best.miss_rate if best else None
        metrics[f"threshold_at_{FALSE_ALARM_TARGET:g}_fa_per_hour"] = best.threshold if best else None
    return metrics


def _figures(s: WakeScore) -> dict[str, Any]:
    return {"miss_rate": s.miss_rate, "false_alarms_per_hour": s.false_alarms_per_hour}


def plot_det(runs: list[WakeRun], path: Path | str) -> None:
    """A DET curve (miss rate against false alarms per hour, one line per phrase) as PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError("the DET plot needs matplotlib: pip install 'carvoice[eval]'") from None
    figure, axes = plt.subplots(figsize=(6, 4.5))
    for run in runs:
        points = [score(run, t) for t in sorted(run.detections)]
        axes.plot(
            [max(p.false_alarms_per_hour or 0.0, 1e-3) for p in points],
            [p.miss_rate for p in points],
            marker="o",
            markersize=3,
            label=run.phrase,
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
