"""Running labelled command recordings through the agent, in parallel worker processes.

Each worker loads the profile and one speech engine once (PocketSphinx never
releases the GIL and a decoder must not be shared, so parallelism is by process).
Actions are planned and gated exactly as in the daemon, then handed to a
dry-run sink instead of the bus.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carvoice import events
from carvoice.act.dry import DryRunSink
from carvoice.agent import Agent
from carvoice.audio import SAMPLE_RATE, SampleSource
from carvoice.audio.frontend import FrontEnd
from carvoice.audio.noise import NoiseCondition
from carvoice.audio.wavfile import read_wav
from carvoice.check import load_profile
from carvoice.evaluation.manifest import Item
from carvoice.profile.model import Profile
from carvoice.recognise.command import Calibration, Recognition, use_calibration
from carvoice.recognise.engine import SpeechEngine


@dataclass(frozen=True)
class Outcome:
    item: Item
    intents: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    answers: int = 0  # how many of the intents only answer (send nothing)
    # Commands asked about because they were heard unsure ("open the boot?"): nobody answers here,
    # so nothing was carried out; a yes would have.
    asked: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    rejections: list[str] = field(default_factory=list)
    heard: str = ""
    confidence: float = 0.0
    wakes: int = 0
    replies: list[str] = field(default_factory=list)  # what the agent said
    audio_seconds: float = 0.0
    cpu_seconds: float = 0.0
    error: str = ""
    recognition: Recognition | None = None  # the last command decoded: its fit and evidence, for calibration


class _RecordingAgent(Agent):
    """The daemon's agent, keeping what the recogniser concluded before the gate judged it."""

    def __init__(self, profile: Profile, emit: events.Emit, engine: SpeechEngine) -> None:
        # Nobody answers a question: a command asked about is left undone, never carried out on a
        # "yes" the answer search found in the rest of the recording.
        super().__init__(profile, emit, [DryRunSink()], engine=engine, ask=lambda question: None)
        self.recognitions: list[Recognition] = []

    def handle_recognition(self, recognition: Recognition) -> None:
        self.recognitions.append(recognition)
        super().handle_recognition(recognition)


_worker: dict[str, Any] = {}


def _init_worker(
    profile_dir: str,
    condition: NoiseCondition,
    calibration: Calibration | None,
    front_end: FrontEnd | None,
    decoder: dict[str, str | float | bool] | None,
) -> None:
    from carvoice.recognise.engine import engine_for

    if calibration is not None:
        use_calibration(calibration)
    profile = load_profile(profile_dir)
    _worker["profile"] = profile
    _worker["engine"] = engine_for(profile, settings=decoder)
    _worker["front_end"] = front_end
    _worker["condition"] = condition
    _worker["noise"] = condition.load()


def evaluate(
    profile_dir: Path | str,
    items: list[Item],
    jobs: int = 0,
    progress: Any = None,
    condition: NoiseCondition | None = None,
    calibration: Calibration | None = None,
    front_end: FrontEnd | None = None,
    decoder: dict[str, str | float | bool] | None = None,
) -> list[Outcome]:
    """Outcomes in manifest order; `progress(done, total)` is called as items finish.

    `calibration` replaces the recogniser's tuned constants (to report a calibration fold);
    `front_end` filters the audio after the noise, `decoder` changes PocketSphinx's options (to measure them).
    """
    jobs = jobs or os.cpu_count() or 1
    outcomes: list[Outcome | None] = [None] * len(items)
    initargs = (str(profile_dir), condition or NoiseCondition(), calibration, front_end, decoder)
    with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=initargs) as pool:
        futures = {pool.submit(_run, item, index): index for index, item in enumerate(items)}
        for done, future in enumerate(as_completed(futures), 1):
            outcomes[futures[future]] = future.result()
            if progress is not None:
                progress(done, len(items))
    return [o for o in outcomes if o is not None]


def _run(item: Item, index: int) -> Outcome:
    profile, engine = _worker["profile"], _worker["engine"]
    try:
        samples = _worker["condition"].apply(read_wav(item.audio), _worker["noise"], index)
    except Exception as error:  # a bad file is one failed item, not a failed evaluation
        return Outcome(item, error=str(error))
    heard: list[events.Event] = []
    agent = _RecordingAgent(profile, heard.append, engine)
    started = time.process_time()
    if _worker["front_end"] is not None:
        samples = _worker["front_end"].process(samples)
    agent.listen(SampleSource(samples, "evaluation item"), awake=not item.wake_prefixed)
    cpu = time.process_time() - started
    intents, asked = carried_out(heard)
    decisions = [e for e in heard if isinstance(e, events.Intent | events.Rejected)]
    last = decisions[-1] if decisions else None
    return Outcome(
        item,
        intents=intents,
        answers=sum(not profile.intents[name].actions for name, _ in intents),
        asked=asked,
        rejections=[e.reason for e in heard if isinstance(e, events.Rejected)],
        heard=getattr(last, "text", "") if last else "",
        confidence=getattr(last, "confidence", 0.0) if last else 0.0,
        wakes=sum(isinstance(e, events.Wake) for e in heard),
        replies=[e.text for e in heard if isinstance(e, events.Say)],
        audio_seconds=len(samples) / SAMPLE_RATE,
        cpu_seconds=cpu,
        recognition=agent.recognitions[-1] if agent.recognitions else None,
    )


def carried_out(
    heard: list[events.Event],
) -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, dict[str, Any]]]]:
    """The accepted intents, and apart from them those asked about because they were heard unsure
    (a `Confirm` with a reason right after the intent): without an answer those were not done."""
    intents: list[tuple[str, dict[str, Any]]] = []
    asked: list[tuple[str, dict[str, Any]]] = []
    for event in heard:
        if isinstance(event, events.Intent):
            intents.append((event.intent, dict(event.slots)))
        elif isinstance(event, events.Confirm) and event.reason and intents and intents[-1][0] == event.intent:
            asked.append(intents.pop())
    return intents, asked
