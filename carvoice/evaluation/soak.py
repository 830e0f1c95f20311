"""A soak run: hours of mixed audio through the agent, faster than real time, with the simulated car on the bus.

    scripts/soak --hours 2 [--seed N] [--json]

The script mixes commands, small talk with and without the wake phrase, noise and silence.
Commands are taken from the profile's examples whose frames do not depend on the car's state
or rules, rendered in several synthetic voices; each rendering is first heard alone, and only
those the agent gets right alone are used, so that the run measures endurance, not accuracy.
It then checks that every scripted command went out exactly once and nothing else did, and
reports RSS at the start and the end and the end-of-speech-to-frame time over the run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import resource
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import can
import numpy as np

from carvoice import events
from carvoice.act.plan import CanFrame, PlanError, extreme_states, plan_actions
from carvoice.agent import Agent
from carvoice.audio import FRAME_SAMPLES, SAMPLE_RATE, SampleSource
from carvoice.audio.synth import silence, speech, with_noise_floor
from carvoice.check import load_profile
from carvoice.errors import UnknownValue
from carvoice.evaluation.generate import NOT_COMMANDS
from carvoice.factory import build_agent, link_of
from carvoice.profile.loader import default_profile_dir
from carvoice.profile.model import Profile
from carvoice.recognise.engine import engine_for
from carvoice.sim.ecu import SimEcu

VOICES = (("en-us", 160), ("en-us+m3", 150), ("flite:slt", 150), ("flite:rms", 150))


@dataclass
class Clip:
    text: str
    voice: str
    samples: np.ndarray
    frames: tuple[str, ...] = ()  # what the agent must send for it; () for talk that is not a command


@dataclass
class Segment:
    clip: Clip | None  # None: a stretch of noise or silence
    samples: np.ndarray
    end_of_speech: int = 0  # sample offset within the run, filled in as the source plays it
    fed_at: float = 0.0  # wall clock when its last speech frame was handed to the agent


@dataclass
class Report:
    audio_hours: float = 0.0
    wall_seconds: float = 0.0
    commands: int = 0
    talk: int = 0
    executed_once: int = 0
    missed: list[str] = field(default_factory=list)  # heard right, yet nothing went out: a real fault
    rejected: list[str] = field(default_factory=list)  # not sure enough and said so: safe, an accuracy matter
    wrong: list[str] = field(default_factory=list)  # frames other than, or besides, the command's own
    unexpected: list[str] = field(default_factory=list)
    rss_start_mb: float = 0.0
    rss_end_mb: float = 0.0
    latencies: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        tenth = max(1, len(self.latencies) // 10)
        first, last = self.latencies[:tenth], self.latencies[-tenth:]
        return {
            "audio_hours": round(self.audio_hours, 3),
            "wall_seconds": round(self.wall_seconds, 1),
            "speed_vs_real_time": round(self.audio_hours * 3600 / self.wall_seconds, 1) if self.wall_seconds else None,
            "commands": self.commands,
            "talk": self.talk,
            "executed_once": self.executed_once,
            "missed": len(self.missed),
            "rejected_as_unsure": len(self.rejected),
            "wrong_or_repeated": len(self.wrong),
            "unexpected_frames": len(self.unexpected),
            "rss_start_mb": round(self.rss_start_mb, 1),
            "rss_end_mb": round(self.rss_end_mb, 1),
            "latency_p50_first_tenth_ms": _ms(np.median(first)) if first else None,
            "latency_p50_last_tenth_ms": _ms(np.median(last)) if last else None,
            "latency_p95_ms": _ms(np.percentile(self.latencies, 95)) if self.latencies else None,
        }


def _ms(seconds: float) -> float:
    return round(float(seconds) * 1000, 1)


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def state_free_examples(profile: Profile) -> dict[str, tuple[str, ...]]:
    """Examples whose frames are the same whatever the car reports, and which no rule guards."""
    chosen: dict[str, tuple[str, ...]] = {}
    for intent in profile.intents.values():
        if intent.allow_when is not None or intent.confirm_when is not None:
            continue
        for example in intent.examples:
            readings = profile.readings(example.lower().split())
            if len(readings) != 1:
                continue
            _, slots = readings[0]
            try:
                plans = [plan_actions(profile, intent, slots, state) for state in [None, *extreme_states(profile)]]
            except (PlanError, UnknownValue):
                continue
            frames = [tuple(a.text for a in plan if isinstance(a, CanFrame)) for plan in plans]
            if frames[0] and len(set(frames)) == 1:
                chosen[example] = frames[0]
    return chosen


class Route:
    """The agent's emitter, sent on to what the soak's phase (calibration, then the soak) listens with."""

    def __init__(self) -> None:
        self.to: events.Emit = lambda event: None

    def __call__(self, event: events.Event) -> None:
        self.to(event)


def calibrate(agent: Agent, route: Route, clips: list[Clip]) -> list[Clip]:
    """Keep the command clips the agent gets exactly right when heard alone."""
    kept = []
    for clip in clips:
        heard: list[events.Event] = []
        route.to = heard.append
        samples = np.concatenate([silence(0.5), clip.samples, silence(1.5)])
        agent.listen(SampleSource(with_noise_floor(samples, seed=len(samples)), "soak clip"))
        if tuple(e.frame for e in heard if isinstance(e, events.Can)) == clip.frames:
            kept.append(clip)
    return kept


class SoakSource:
    """Plays the script segment by segment, noting when each command's speech ended."""

    realtime = False
    description = "soak script"

    def __init__(self, segments: list[Segment], seed: int) -> None:
        self.segments = segments
        self.rng = np.random.default_rng(seed)
        self.position = 0

    def frames(self) -> Iterator[np.ndarray]:
        for segment in self.segments:
            audio = with_noise_floor(segment.samples, seed=int(self.rng.integers(1 << 30)))
            for start in range(0, len(audio), FRAME_SAMPLES):
                frame = audio[start : start + FRAME_SAMPLES]
                yield frame
                self.position += len(frame)
                if segment.clip is not None and start <= segment.end_of_speech < start + FRAME_SAMPLES:
                    segment.end_of_speech = self.position
                    segment.fed_at = time.monotonic()

    def close(self) -> None:
        pass


def build_script(commands: list[Clip], talk: list[Clip], hours: float, seed: int) -> list[Segment]:
    rng = random.Random(seed)
    noise_rng = np.random.default_rng(seed)
    segments, total = [], 0
    while total < hours * 3600 * SAMPLE_RATE:
        roll = rng.random()
        if roll < 0.45:
            clip = rng.choice(commands)
        elif roll < 0.75:
            clip = rng.choice(talk)
        else:
            seconds = rng.uniform(2, 20)
            level = rng.choice([0, 300, 1500])  # silence, a quiet cabin, road noise
            samples = noise_rng.normal(0, level, int(seconds * SAMPLE_RATE)) if level else silence(seconds)
            segments.append(Segment(None, samples.astype(np.int16)))
            total += len(samples)
            continue
        gap = silence(rng.uniform(2.5, 6.0))  # room for the reply window and the endpointer
        samples = np.concatenate([silence(0.5), clip.samples, gap])
        segments.append(Segment(clip, samples, end_of_speech=int(0.5 * SAMPLE_RATE) + len(clip.samples)))
        total += len(samples)
    return segments


@contextlib.contextmanager
def agent_on_simulated_car(profile: Profile, emit: events.Emit, channel: str) -> Iterator[Agent]:
    """The agent as the daemon builds it, on a virtual bus with the simulated car parked on it."""
    car_bus = can.Bus(interface="virtual", channel=channel)
    car = SimEcu(car_bus, profile).start()
    try:
        with build_agent(profile, emit, bus=("virtual", channel), engine=engine_for(profile)) as agent:
            link_of(agent).state.wait_until_known()
            yield agent
    finally:
        car.stop()
        car_bus.shutdown()


def soak(hours: float, seed: int, profile: Profile, progress: bool) -> Report:
    report = Report()
    heard: list[tuple[float, str]] = []
    notes: list[tuple[float, str]] = []  # what the agent made of what it heard, to explain a miss

    def emit(event: events.Event) -> None:
        if isinstance(event, events.Can):
            heard.append((time.monotonic(), event.frame))
        elif isinstance(event, events.Intent | events.Rejected | events.Wake):
            notes.append((time.monotonic(), events.human_line(event).strip()))

    wake = f"{profile.wake.phrase}, "
    route = Route()
    with agent_on_simulated_car(profile, route, f"soak-{seed}") as agent:
        examples = state_free_examples(profile)
        commands = [
            Clip(wake + text, voice, speech(wake + text, voice, speed), frames)
            for text, frames in examples.items()
            for voice, speed in VOICES
        ]
        commands = calibrate(agent, route, commands)
        talk = [Clip(text, voice, speech(text, voice, speed)) for text in NOT_COMMANDS for voice, speed in VOICES[:2]]
        talk += [Clip(wake + text, "en-us", speech(wake + text, "en-us", 160)) for text in NOT_COMMANDS[:10]]
        if progress:
            print(f"soak: {len(commands)} command clips heard right alone, {len(talk)} talk clips", file=sys.stderr)
        segments = build_script(commands, talk, hours, seed)
        route.to = emit
        source = SoakSource(segments, seed)
        report.rss_start_mb = rss_mb()
        started = time.monotonic()
        agent.listen(source)
        report.wall_seconds = time.monotonic() - started
        report.rss_end_mb = rss_mb()
        report.audio_hours = source.position / SAMPLE_RATE / 3600
    _score(report, segments, heard, notes)
    return report


def _score(
    report: Report, segments: list[Segment], heard: list[tuple[float, str]], notes: list[tuple[float, str]]
) -> None:
    """Each command's frames must come after its speech ended and before the next segment's did."""
    pending = list(heard)
    for index, segment in enumerate(segments):
        if segment.clip is None:
            continue
        if not segment.clip.frames:
            report.talk += 1
            continue
        report.commands += 1
        later = [s.fed_at for s in segments[index + 1 :] if s.clip is not None and s.fed_at]
        window_end = later[0] if later else float("inf")
        mine = [(t, f) for t, f in pending if segment.fed_at <= t < window_end]
        got = tuple(f for _, f in mine)
        for item in mine:
            pending.remove(item)
        if got == segment.clip.frames:
            report.executed_once += 1
            report.latencies.append(mine[-1][0] - segment.fed_at)
        elif not got:
            said = [n for t, n in notes if segment.fed_at <= t < window_end]
            kind = report.rejected if any(" rejected " in n for n in said) else report.missed
            kind.append(f"{segment.clip.text} ({segment.clip.voice}): {' | '.join(said) or 'nothing heard'}")
        else:
            said = [n for t, n in notes if segment.fed_at - 10 <= t < window_end]
            report.wrong.append(f"{segment.clip.text}: sent {got}; {' | '.join(said)}")
    report.unexpected = [f for _, f in pending]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/soak", description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=1.0, help="hours of audio (default 1)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", default=str(default_profile_dir()))
    args = parser.parse_args(argv)
    profile = load_profile(args.profile)
    report = soak(args.hours, args.seed, profile, progress=True)
    summary = report.summary()
    for key in ("missed", "rejected", "wrong", "unexpected"):
        for item in getattr(report, key)[:10]:
            print(f"soak: {key}: {item}", file=sys.stderr)
    print(json.dumps(summary))
    ok = not report.wrong and not report.unexpected and not report.missed
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
