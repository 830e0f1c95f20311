"""Scoring a wake-phrase run: hits, false alarms per hour, DET curves and the figures `carvoice eval` prints.

Counting follows Picovoice's wake-word benchmark: a detection that ends inside a clip
holding the phrase, or up to HIT_TOLERANCE seconds after it, is a hit (one per clip
at most); every other detection is a false alarm. False alarms are per hour of audio
outside the positive clips (negative clips, extra negative audio and the gaps).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from carvoice.audio import SAMPLE_RATE
from carvoice.profile.model import MICRO, POCKETSPHINX

HIT_TOLERANCE = 0.5  # seconds after a clip in which a detection still counts as a hit
FALSE_ALARM_TARGET = 0.5  # per hour: the operating point the targets are set at (issue 11)
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
