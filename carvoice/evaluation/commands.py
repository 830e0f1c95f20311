"""Running labelled command recordings through the agent, in parallel worker processes.

Each worker loads the profile and one speech engine once (PocketSphinx never
releases the GIL and a decoder must not be shared, so parallelism is by process).
Actions are planned and gated exactly as in the daemon, then handed to a
dry-run sink instead of the bus.
"""

from __future__ import annotations

import dataclasses
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from carvoice import events
from carvoice.act.dry import DryRunSink
from carvoice.agent import ANSWER_SECONDS, Agent
from carvoice.audio import SAMPLE_RATE, SampleSource
from carvoice.audio.frontend import FrontEnd
from carvoice.audio.noise import NoiseCondition
from carvoice.audio.synth import DEFAULT_SPEED, utterance
from carvoice.audio.wavfile import read_wav
from carvoice.check import load_profile
from carvoice.evaluation.manifest import Item
from carvoice.intent.answers import NO, YES
from carvoice.profile.model import Profile
from carvoice.recognise.command import Calibration, Recognition, use_calibration
from carvoice.recognise.engine import SpeechEngine

# How long after the agent asks its question a speaker answers it (`evaluate`'s `answer`): the
# question said, and a moment's thought.
ANSWER_AFTER_SECONDS = 1.5
# `Outcome.answer_heard` when, heard with the noise going on after it, the command got another
# question or none (or more than one command was asked about): left unanswered.
NOT_ASKED_AGAIN = "not asked again with the noise going on"


@dataclass(frozen=True)
class Outcome:
    item: Item
    intents: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    answers: int = 0  # how many of the intents only answer (send nothing)
    # Commands asked about because they were heard unsure ("open the boot?"): nothing was carried out
    # here; a yes would have (with `evaluate(answer=True)`, see `answer`).
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
    # With `evaluate(answer=True)`, a question about a command is answered as its speaker would: what
    # the speaker said (yes to a question about the labelled command, no to any other; "" if nothing was
    # asked or left unanswered), and what the agent took the answer for (yes: the command goes on to the
    # safety rules as if heard surely; no; none: nothing clear; or NOT_ASKED_AGAIN, left unanswered).
    answer: str = ""
    answer_heard: str = ""


class _RecordingAgent(Agent):
    """The daemon's agent, keeping what the recogniser concluded before the gate judged it."""

    def __init__(self, profile: Profile, emit: events.Emit, engine: SpeechEngine, answered: bool = False) -> None:
        # Unless the speaker's answer follows in the audio (`answered`), nobody answers a question: a
        # command asked about is left undone, never carried out on a "yes" the answer search found in
        # the rest of the recording.
        ask = None if answered else lambda question: None
        super().__init__(profile, emit, [DryRunSink()], engine=engine, ask=ask)
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
    answer: bool,
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
    _worker["answer"] = answer


def evaluate(
    profile_dir: Path | str,
    items: list[Item],
    jobs: int = 0,
    progress: Any = None,
    condition: NoiseCondition | None = None,
    calibration: Calibration | None = None,
    front_end: FrontEnd | None = None,
    decoder: dict[str, str | float | bool] | None = None,
    answer: bool = False,
) -> list[Outcome]:
    """Outcomes in manifest order; `progress(done, total)` is called as items finish.

    `calibration` replaces the recogniser's tuned constants (to report a calibration fold);
    `front_end` filters the audio after the noise, `decoder` changes PocketSphinx's options (to measure them);
    `answer`: a question about a command heard unsure is answered in the speaker's own voice (`_answered`).
    """
    jobs = jobs or os.cpu_count() or 1
    outcomes: list[Outcome | None] = [None] * len(items)
    initargs = (str(profile_dir), condition or NoiseCondition(), calibration, front_end, decoder, answer)
    with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=initargs) as pool:
        futures = {pool.submit(_run, item, index): index for index, item in enumerate(items)}
        for done, future in enumerate(as_completed(futures), 1):
            outcomes[futures[future]] = future.result()
            if progress is not None:
                progress(done, len(items))
    return [o for o in outcomes if o is not None]


def _run(item: Item, index: int) -> Outcome:
    try:
        clean = read_wav(item.audio)
        samples = _worker["condition"].apply(clean, _worker["noise"], index)
    except Exception as error:  # a bad file is one failed item, not a failed evaluation
        return Outcome(item, error=str(error))
    heard, agent, cpu = _listen(item, samples)
    intents, asked = carried_out(heard)
    decisions = [e for e in heard if isinstance(e, events.Intent | events.Rejected)]
    last = decisions[-1] if decisions else None
    outcome = Outcome(
        item,
        intents=intents,
        answers=sum(not agent.profile.intents[name].actions for name, _ in intents),
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
    if not (_worker["answer"] and asked):
        return outcome
    try:
        return _answered(outcome, clean, index)
    except Exception as error:  # a voice that cannot be synthesised: one failed item, as an unreadable file
        return dataclasses.replace(outcome, error=f"answering the question: {error}")


def _listen(
    item: Item, samples: np.ndarray, answered: bool = False
) -> tuple[list[events.Event], _RecordingAgent, float]:
    """What the agent made of the recording (after the front end, if any), and the CPU seconds it took."""
    heard: list[events.Event] = []
    agent = _RecordingAgent(_worker["profile"], heard.append, _worker["engine"], answered)
    started = time.process_time()
    if _worker["front_end"] is not None:
        samples = _worker["front_end"].process(samples)
    agent.listen(SampleSource(samples, "evaluation item"), awake=not item.wake_prefixed)
    return heard, agent, time.process_time() - started


def _answered(outcome: Outcome, clean: np.ndarray, index: int) -> Outcome:
    """The speaker's truthful answer to the agent's question about a command heard unsure, in the same
    voice and noise: "yes" if it names the labelled command, "no" otherwise. In a car the noise goes on
    after the command, and in loud noise the endpointer may hear no speech start and the agent ask only
    when the listening time is up: so the recording is heard again with the noise going on, and the
    answer comes ANSWER_AFTER_SECONDS after the question, at the gain the recording set (as loud against
    the noise as the command was), with the noise going on to the end of the listening for it.
    Unanswered (NOT_ASKED_AGAIN) unless, heard so, the agent asks that one question alone. What follows a
    yes (the profile's rules, the car's state) is not the hearing's: the dry run has no car."""
    item, condition, noise = outcome.item, _worker["condition"], _worker["noise"]
    if len(outcome.asked) != 1:
        return dataclasses.replace(outcome, answer_heard=NOT_ASKED_AGAIN)
    said = YES if item.is_labelled(*outcome.asked[0]) else NO
    settings = _worker["profile"].recognition
    longest = round((settings.listen_seconds + settings.max_command_seconds) * SAMPLE_RATE)
    heard, _, _ = _listen(item, condition.apply(clean, noise, index, tail=longest), answered=True)
    questions = [event.t for event in heard if isinstance(event, events.Confirm) and event.reason]
    if carried_out(heard)[1] != outcome.asked or len(questions) != 1:
        return dataclasses.replace(outcome, answer_heard=NOT_ASKED_AGAIN)
    start = round((questions[0] + ANSWER_AFTER_SECONDS) * SAMPLE_RATE)
    reply = utterance(said, item.voice, item.speed or DEFAULT_SPEED, lead=0.0, seed=index)
    end = max(start + len(reply), round((questions[0] + ANSWER_SECONDS + 1.0) * SAMPLE_RATE))
    samples = condition.apply(clean, noise, index, tail=max(0, end - len(clean)))
    samples[start : start + len(reply)] = np.clip(
        samples[start : start + len(reply)].astype(np.int32) + reply, -32768, 32767
    )
    heard, _, _ = _listen(item, samples, answered=True)
    taken = next((event.answer for event in heard if isinstance(event, events.Answer)), "none")
    return dataclasses.replace(outcome, answer=said, answer_heard=taken)


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
