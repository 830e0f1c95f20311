"""Speech that is not a command: how often the agent wakes on it, speaks, and acts.

    scripts/not-commands [--synthetic-minutes 120] [--profile DIR] [--only TEXT]

All real speech from ../shared/data (coffee orders, every wake-word clip: other assistants'
phrases and names, the not-wake phrases) and long synthetic talk (espeak-ng and flite voices
reading everyday sentences) stream through the agent as the daemon runs it, with the simulated
car parked on a virtual bus so that no rule refuses on its behalf. Every spoken reply here is
unprompted: nobody spoke to the car. Prints one JSON line per source and a total.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from carvoice import events
from carvoice.audio import FRAME_SAMPLES, SAMPLE_RATE
from carvoice.audio.synth import silence, speech, with_noise_floor
from carvoice.audio.wavfile import read_wav
from carvoice.check import load_profile
from carvoice.evaluation.generate import NOT_COMMANDS
from carvoice.evaluation.soak import VOICES, agent_on_simulated_car
from carvoice.profile.loader import default_profile_dir

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
WAKE_FOLDERS = ("computer", "jarvis", "alexa", "smart_mirror", "snowboy", "view_glass", "amelia")


class _Stream:
    realtime = False

    def __init__(self, description: str, clips: Iterator[np.ndarray]) -> None:
        self.description = description
        self.clips = clips
        self.samples = 0

    def frames(self) -> Iterator[np.ndarray]:
        for index, clip in enumerate(self.clips):
            audio = with_noise_floor(np.concatenate([clip, silence(1.0)]), seed=index)
            for start in range(0, len(audio), FRAME_SAMPLES):
                frame = audio[start : start + FRAME_SAMPLES]
                self.samples += len(frame)
                yield frame

    def close(self) -> None:
        pass


def real_clips(folder: Path) -> Iterator[np.ndarray]:
    for path in sorted(folder.rglob("*.wav")):
        yield read_wav(path)


def synthetic_talk(minutes: float, seed: int) -> Iterator[np.ndarray]:
    """Everyday sentences strung together by several voices, the kind of talk a cabin hears."""
    rng = random.Random(seed)
    total = 0.0
    while total < minutes * 60:
        voice, speed = rng.choice(VOICES)
        text = ", ".join(rng.sample(NOT_COMMANDS, 3))
        clip = speech(text, voice, speed)
        total += len(clip) / SAMPLE_RATE + 1.0
        yield clip


def measure(profile_dir: str, synthetic_minutes: float, only: str | None = None) -> list[dict]:
    profile = load_profile(profile_dir)
    sources = [
        ("coffee orders (real)", lambda: real_clips(SHARED / "coffee")),
        *[
            (f"wake word {folder.replace('_', ' ')} (real)", lambda folder=folder: real_clips(SHARED / "wake" / folder))
            for folder in WAKE_FOLDERS
        ],
        ("not-wake phrases (real)", lambda: real_clips(SHARED / "wake" / "not-wake")),
        ("synthetic talk", lambda: synthetic_talk(synthetic_minutes, 1)),
    ]
    rows: list[dict[str, Any]] = []
    for name, clips in sources:
        if only is not None and only not in name:
            continue
        if name.endswith("(real)") and not SHARED.is_dir():
            print(f"not-commands: {SHARED} is missing; skipping {name}", file=sys.stderr)
            continue
        counts = {"wake": 0, "intent": 0, "action": 0, "reply": 0}
        acted: list[str] = []

        def emit(event: events.Event, counts: dict = counts, acted: list = acted) -> None:
            if isinstance(event, events.Wake):
                counts["wake"] += 1
            elif isinstance(event, events.Say):
                counts["reply"] += 1
            elif isinstance(event, events.Intent):
                counts["intent"] += 1
                acted.append(event.text)
            elif isinstance(event, events.Can | events.Serial):
                counts["action"] += 1

        started = time.monotonic()
        with agent_on_simulated_car(profile, emit, f"negatives-{len(rows)}") as agent:
            stream = _Stream(name, clips())
            agent.listen(stream)
        hours = stream.samples / SAMPLE_RATE / 3600
        rows.append(
            {
                "source": name,
                "audio_hours": round(hours, 3),
                "wakes": counts["wake"],
                "wakes_per_hour": round(counts["wake"] / hours, 1) if hours else None,
                "replies": counts["reply"],
                "replies_per_hour": round(counts["reply"] / hours, 2) if hours else None,
                "accepted_commands": counts["intent"],
                "actions": counts["action"],
                "actions_per_hour": round(counts["action"] / hours, 2) if hours else None,
                "heard_as_commands": acted[:10],
                "wall_seconds": round(time.monotonic() - started, 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/not-commands", description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic-minutes", type=float, default=120.0)
    parser.add_argument("--profile", default=str(default_profile_dir()))
    parser.add_argument("--only", metavar="TEXT", help="only the sources whose name contains TEXT, e.g. coffee")
    args = parser.parse_args(argv)
    rows = measure(args.profile, args.synthetic_minutes, args.only)
    hours = sum(r["audio_hours"] for r in rows)
    total = {
        "source": "all",
        "audio_hours": round(hours, 3),
        "wakes_per_hour": round(sum(r["wakes"] for r in rows) / hours, 1) if hours else None,
        "replies_per_hour": round(sum(r["replies"] for r in rows) / hours, 2) if hours else None,
        "actions_per_hour": round(sum(r["actions"] for r in rows) / hours, 2) if hours else None,
    }
    print(json.dumps(total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
