"""carvoice record DIR: the installer's own voice and the car's own noise, labelled for `carvoice eval`.

    carvoice record takes/van-1                      # cabin noise, then each example of the profile
    carvoice eval takes/van-1/manifest.jsonl         # how well this car hears this installer
    carvoice eval takes/van-1/manifest.jsonl --noise takes/van-1/noise.wav --snr 6

On the unit, before handing the car over: first some seconds of cabin noise (engine
running, nobody talking), then every example sentence of the profile, prompted one by
one. Each prompt waits for a line on standard input (Enter), so a person or a test
script can pace it; `skip` skips a sentence, `quit` stops and keeps what was recorded.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import queue
import sys
import threading
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from carvoice.audio import FRAME_SAMPLES, SAMPLE_RATE, AudioSource, AudioSourceError
from carvoice.audio.endpoint import Endpointer, NoiseFloor, SpeechBandLevel, Status
from carvoice.audio.wavfile import write_wav
from carvoice.cli._common import add_profile_option, load_or_report, profile_dir
from carvoice.cli.text import words_of
from carvoice.evaluation.manifest import write_manifest
from carvoice.profile.model import Profile

MANIFEST = "manifest.jsonl"
NOISE = "noise.wav"
# Audio kept before the speech started and after it ended, as a recording made by hand would have.
MARGIN_SECONDS = 0.3


@dataclass(frozen=True)
class Prompt:
    text: str
    intent: str
    slots: dict[str, Any]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("record", help="record cabin noise and sample commands for carvoice eval")
    parser.add_argument("folder", metavar="DIR", help="a new folder for the recordings and their manifest")
    add_profile_option(parser)
    parser.add_argument("--input-device", metavar="NAME|INDEX", help="microphone (default: the profile's [audio])")
    parser.add_argument("--only", action="append", metavar="INTENT", help="only these intents' examples (repeat)")
    parser.add_argument("--repeat", type=int, default=1, metavar="N", help="say each example N times (default 1)")
    parser.add_argument(
        "--noise-seconds", type=float, default=30.0, metavar="S", help="seconds of cabin noise (default 30; 0: none)"
    )
    parser.add_argument(
        "--with-wake", action="store_true", help="say the wake phrase before each command (tests the wake too)"
    )
    parser.set_defaults(func=run)


def prompts_of(profile: Profile, only: list[str] | None = None, repeat: int = 1) -> list[Prompt]:
    """Each example of the profile with the intent and slots it means (the profile checker made sure of it)."""
    unknown = sorted(set(only or ()) - set(profile.intents))
    if unknown:
        raise ValueError(f"no intent {', '.join(unknown)} in {profile.name} (intents: {', '.join(profile.intents)})")
    prompts = []
    for intent in profile.intents.values():
        if only and intent.name not in only:
            continue
        for example in intent.examples:
            [(name, slots)] = profile.readings(words_of(example))
            prompts += [Prompt(example, name, slots)] * repeat
    return prompts


def run(args: argparse.Namespace) -> int:
    profile = load_or_report(profile_dir(args.profile))
    if profile is None:
        return 2
    folder = Path(args.folder)
    if folder.exists() and any(folder.iterdir()):
        print(f"carvoice record: {folder} is not empty: choose a new folder", file=sys.stderr)
        return 2
    try:
        prompts = prompts_of(profile, args.only, args.repeat)
    except ValueError as error:
        print(f"carvoice record: {error}", file=sys.stderr)
        return 2
    from carvoice.audio.microphone import MicrophoneSource

    try:
        microphone = MicrophoneSource(args.input_device if args.input_device is not None else profile.audio.input)
    except AudioSourceError as error:
        print(f"carvoice record: {error}", file=sys.stderr)
        return 1
    folder.mkdir(parents=True, exist_ok=True)
    session = Session(profile, Tap(microphone), folder, sys.stdin, sys.stdout)
    try:
        session.record(prompts, args.noise_seconds, args.with_wake)
    except AudioSourceError as error:
        print(f"carvoice record: {error}", file=sys.stderr)
        return 1
    finally:
        session.tap.close()
    return 0


class Tap:
    """The microphone read all the time on a thread; frames are kept only while a take is on."""

    def __init__(self, source: AudioSource) -> None:
        self.source = source
        self._frames: queue.Queue[np.ndarray | AudioSourceError] = queue.Queue()
        self._taking = threading.Event()
        self._stop = threading.Event()
        self._ended: AudioSourceError | None = None  # why the source has no more frames
        self._thread = threading.Thread(target=self._read, name="record-microphone", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for frame in self.source.frames():
                if self._stop.is_set():
                    return
                if self._taking.is_set():
                    self._frames.put(frame)
            ended = AudioSourceError(f"{self.source.description} stopped delivering audio")
        except AudioSourceError as error:
            ended = error
        self._ended = ended
        self._frames.put(ended)  # for a take under way; a later one finds self._ended

    def take(self) -> Generator[np.ndarray, None, None]:
        """Frames from now on, until the caller stops iterating; the source's error once it has none left."""
        self._frames = queue.Queue()
        if self._ended is not None:  # after the new queue: an end from now on goes into it
            raise self._ended
        self._taking.set()
        try:
            while True:
                frame = self._frames.get()
                if isinstance(frame, AudioSourceError):
                    raise frame
                yield frame
        finally:
            self._taking.clear()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.source.close()


class Session:
    def __init__(self, profile: Profile, tap: Tap, folder: Path, answers: TextIO, out: TextIO) -> None:
        self.profile, self.tap, self.folder = profile, tap, folder
        self.answers, self.out = answers, out
        self.lines: list[dict[str, Any]] = []

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def wait(self) -> str | None:
        """The installer's line: "" (Enter) to record, "skip", or None to stop (quit, end of input)."""
        line = self.answers.readline()
        word = line.strip().lower()
        return None if not line or word in ("quit", "q") else word

    def record(self, prompts: list[Prompt], noise_seconds: float, with_wake: bool) -> None:
        """Noise first, then the prompts; the manifest is written after every take, so a stop loses nothing."""
        if noise_seconds > 0:
            self.say(f"Cabin noise: {noise_seconds:g} s with the engine running and nobody talking. Press Enter.")
            if self.wait() is None:
                return self._finish(0)
            self._noise(noise_seconds)
        wake = self.profile.wake.phrase + ", " if with_wake else ""
        done = 0
        for number, prompt in enumerate(prompts, 1):
            while True:
                self.say(f'[{number}/{len(prompts)}] Press Enter, then say: "{wake}{prompt.text}"')
                answer = self.wait()
                if answer is None:
                    return self._finish(done)
                if answer == "skip":
                    break
                samples = self._command()
                if samples is not None:
                    self._keep(f"commands/{number:03d}.wav", samples, prompt, with_wake)
                    done += 1
                    break
                self.say("Heard nothing; again (or type skip).")
        self._finish(done)

    def _noise(self, seconds: float) -> None:
        wanted = round(seconds * SAMPLE_RATE / FRAME_SAMPLES)
        with contextlib.closing(self.tap.take()) as take:
            frames = list(itertools.islice(take, wanted))
        write_wav(self.folder / NOISE, np.concatenate(frames))
        self.lines.append({"audio": NOISE, "intent": None, "text": "(cabin noise: must cause no action)"})
        write_manifest(self.folder / MANIFEST, self.lines)
        self.say(f"Recorded {NOISE}.")

    def _command(self) -> np.ndarray | None:
        """One spoken command, cut as the agent's endpointer cuts one; None if nothing was said.

        It waits the profile's longer unfinished silence: without decoding, it cannot tell whether the
        words so far are a whole command, and a pause inside a number belongs inside the take.
        """
        settings = self.profile.recognition
        floor, level_of = NoiseFloor(), SpeechBandLevel()
        endpointer = Endpointer(
            floor,
            trailing_silence=settings.unfinished_silence,
            listen_seconds=settings.listen_seconds,
            max_seconds=settings.max_command_seconds,
        )
        frames = []
        with contextlib.closing(self.tap.take()) as take:
            for frame in take:
                frames.append(frame)
                level = level_of(frame)
                floor.update(level)
                status = endpointer.feed(level)
                if status is Status.NO_SPEECH:
                    return None
                if status in (Status.END, Status.TOO_LONG):
                    break
        margin = round(MARGIN_SECONDS * SAMPLE_RATE / FRAME_SAMPLES)
        start = max(0, (endpointer.speech_start or 0) - margin)
        end = min(len(frames), (endpointer.speech_end or len(frames)) + margin)
        return np.concatenate(frames[start:end])

    def _keep(self, name: str, samples: np.ndarray, prompt: Prompt, with_wake: bool) -> None:
        (self.folder / name).parent.mkdir(exist_ok=True)
        write_wav(self.folder / name, samples)
        line = {"audio": name, "intent": prompt.intent, "slots": prompt.slots, "text": prompt.text}
        self.lines.append(line | {"wake_prefixed": True} if with_wake else line)
        write_manifest(self.folder / MANIFEST, self.lines)

    def _finish(self, done: int) -> None:
        manifest = self.folder / MANIFEST
        noise = f" --noise {self.folder / NOISE} --snr 6" if (self.folder / NOISE).exists() else ""
        self.say(f"Recorded {done} command(s) into {manifest}. Measure them with:")
        self.say(f"  carvoice eval {manifest} --profile {self.profile.root}")
        if noise:
            self.say(f"  carvoice eval {manifest} --profile {self.profile.root}{noise}")
