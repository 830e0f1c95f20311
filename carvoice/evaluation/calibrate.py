"""Fitting the recogniser's judgement constants on labelled recordings (scripts/calibrate).

Every clean recording of the tuning half runs through the daemon's path with every
check switched off, so that what the recogniser measured is seen whatever the
shipped constants are. Of the commands it heard correctly (the words read as the
labelled intent and slots), each floor keeps all but FLOOR_PERCENTILE per cent, and
the confidence centre all but CENTRE_PERCENTILE per cent. Noisy recordings are left
out on purpose: the floors describe words really said, so noise that wears the
evidence away leads to "Sorry?" rather than a guess. The other half is then
evaluated with the fitted constants (`carvoice eval --calibration`), and the halves
swap. Nothing here looks at the non-commands: cut-offs and near misses are what the
constants are judged on, never what they are fitted to.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from carvoice.audio.noise import NoiseCondition
from carvoice.check import load_profile
from carvoice.evaluation.commands import evaluate
from carvoice.evaluation.manifest import Item
from carvoice.recognise.command import SAID_OTHERWISE_PRIORS, Calibration, Recognition

FLOOR_PERCENTILE = 1.0
CENTRE_PERCENTILE = 2.0
# Every check off: the measurements are taken, nothing is doubted.
OPEN = dataclasses.replace(
    Calibration(),
    word_fit=-math.inf,
    phone_score=-math.inf,
    last_phone_frames=0,
    last_phone_score=-math.inf,
    last_phone_level_db=-math.inf,
    last_word_pace=0.0,
    unfinished_lead=math.inf,
    unheard_frames=0,
    late_lead_in_frames=0,
)
# Floors a heard command must reach.
FLOORS = ("word_fit", "phone_score", "last_phone_frames", "last_phone_score", "last_phone_level_db", "last_word_pace")


@dataclass(frozen=True)
class Run:
    """Recordings of one tuning condition: a profile, its labelled items, the noise added."""

    profile: Path
    items: list[Item]
    condition: NoiseCondition


def measures(recognition: Recognition) -> dict[str, float]:
    """What each constant is compared with, for one recognition with its evidence."""
    evidence = recognition.evidence
    last = next(e for e in evidence if e.last)
    matter = [e for e in evidence if e.matters]
    return {
        "fit": recognition.fit,
        "word_fit": min(e.fit for e in evidence),
        "phone_score": min(e.weakest_phone_score for e in matter),
        "last_phone_frames": last.last_phone_frames,
        "last_phone_score": last.last_phone_score,
        "last_phone_level_db": last.last_phone_level_db,
        "last_word_pace": last.pace if last.pace is not None else math.inf,
    }


def heard(runs: list[Run], jobs: int = 0) -> list[list[Recognition]]:
    """The recognitions of every correctly heard command, run by run, measured with every check off
    (kept apart because synthetic and real speech fail different checks)."""
    by_run = []
    for run in runs:
        found = []
        profile = load_profile(run.profile)
        for outcome in evaluate(run.profile, run.items, jobs, condition=run.condition, calibration=OPEN):
            recognition, item = outcome.recognition, outcome.item
            if recognition is None or not recognition.evidence or item.intent is None:
                continue
            readings = profile.readings(list(recognition.words))
            if any(item.is_labelled(intent, slots) for intent, slots in readings):
                found.append(recognition)
        by_run.append(found)
    return by_run


def failing(recognition: Recognition, limits: Calibration) -> list[str]:
    """Every check a correctly heard command fails under `limits`, not only the first one
    its doubt names: whether a floor could move without another catching the same word. (The
    other-word and negation checks are as measured, at the priors the recognition was made with.)"""
    values = measures(recognition)
    failed = [name for name in FLOORS if values[name] < getattr(limits, name)]
    if recognition.drawn_out is not None:
        failed.append("drawn_out")
    if recognition.fit < limits.centre_at(recognition.snr_db):
        failed.append("confidence_centre")
    if recognition.judged(limits).ends_unfinished:
        failed.append("unfinished_lead")
    if recognition.other_word is not None:
        failed.append("other_word_log10")
    if recognition.said_otherwise is not None:
        failed.append(SAID_OTHERWISE_PRIORS[recognition.said_otherwise[0]][0])
    if recognition.begun is not None:
        failed.append("begun")
    if recognition.rival_margin is not None and recognition.rival_margin <= limits.rival_margin:
        failed.append("rival_margin")
    return failed


def fit(recognitions: list[Recognition], base: Calibration | None = None) -> Calibration:
    """The constants that keep nearly every one of these correctly heard commands."""
    if not recognitions:
        raise ValueError("no correctly heard command to fit on")
    values = [measures(r) for r in recognitions]

    def percentile(name: str, share: float) -> float:
        column = [v[name] for v in values if math.isfinite(v[name])]
        return round(float(np.percentile(column, share)), 2) if column else getattr(base or Calibration(), name)

    floor = {name: percentile(name, FLOOR_PERCENTILE) for name in FLOORS}
    return dataclasses.replace(
        base or Calibration(),
        confidence_centre=percentile("fit", CENTRE_PERCENTILE),
        word_fit=floor["word_fit"],
        phone_score=floor["phone_score"],
        last_phone_frames=math.floor(floor["last_phone_frames"]),  # a count of frames
        last_phone_score=floor["last_phone_score"],
        last_phone_level_db=floor["last_phone_level_db"],
        last_word_pace=floor["last_word_pace"],
    )
