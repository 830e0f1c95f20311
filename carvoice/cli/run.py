"""carvoice run: listen for the wake phrase and commands, on a microphone or a recording."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from importlib import resources

from carvoice import events
from carvoice.agent import Agent
from carvoice.audio import AudioSource, AudioSourceError
from carvoice.cli._common import add_agent_options, agent_from_options, load_or_report, previous_profile, profile_dir
from carvoice.recognise.engine import engine_for
from carvoice.service import Service, Signals, Stop

# How often a vanished microphone is looked for again.
RETRY_SECONDS = 1.0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("run", help="run the voice agent")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--audio", metavar="FILE.wav", help="listen to a recording instead of the microphone")
    source.add_argument(
        "--demo", action="store_true", help="listen to the built-in demo recording (wake phrase, commands, small talk)"
    )
    parser.add_argument("--realtime", action="store_true", help="pace a recording like a live microphone")
    parser.add_argument("--input-device", metavar="NAME|INDEX", help="microphone (default: the profile's [audio])")
    add_agent_options(parser)
    parser.set_defaults(func=run)


def demo_recording() -> str:
    return str(resources.files("carvoice") / "data" / "demo.wav")


def run(args: argparse.Namespace) -> int:
    signals = Signals().install()  # from the first moment: a SIGHUP during start-up is a reload, not the end
    try:
        return _run(args, signals)
    finally:
        signals.ignore()


def _run(args: argparse.Namespace, signals: Signals) -> int:
    path = profile_dir(args.profile)
    profile = load_or_report(path)
    fallback = previous_profile(path) if profile is None else None
    if fallback is not None:
        profile = load_or_report(fallback)
        if profile is not None:
            print(f"carvoice: running the previous profile ({fallback}) until {path} loads", file=sys.stderr)
    if profile is None:
        return 2
    try:
        source = _source(args, profile)
    except AudioSourceError as error:
        print(f"carvoice: {error}", file=sys.stderr)
        return 1
    agent = agent_from_options(args, profile, engine=engine_for(profile))
    if fallback is not None:
        agent.emit(events.Error(0.0, message=f"{path} does not load; running {fallback}", source="profile"))
    service = Service(agent, path, signals=signals)
    service.ready()  # microphone, bus, profile and recogniser are all up
    reopen = None if (args.audio or args.demo) else lambda: _source(args, agent.profile)
    try:
        return listen_until_stopped(agent, source, reopen, service.tick)
    except Stop:
        return 0
    finally:
        agent.close()


def listen_until_stopped(
    agent: Agent, source: AudioSource, reopen: Callable[[], AudioSource] | None, tick: Callable[[], None]
) -> int:
    """Listen; when a live microphone fails, keep the agent up and open it again until it is back.

    A recording that fails cannot come back (`reopen` is None): that ends the run with status 1.
    `tick`: once per audio frame, and while waiting for the microphone (the watchdog, signals, reloads).
    """
    try:
        while True:
            try:
                agent.listen(source, tick=tick)
                return 0
            except AudioSourceError as error:
                agent.emit(events.Error(agent.now, message=str(error), source="audio"))
                source.close()
                if reopen is None:
                    return 1
                source = _open_again(agent, reopen, tick)
    finally:
        source.close()


def _open_again(agent: Agent, reopen: Callable[[], AudioSource], tick: Callable[[], None]) -> AudioSource:
    """Try every RETRY_SECONDS, feeding the watchdog meanwhile: a missing microphone is not a hang."""
    reported = False
    agent.busy = False  # whatever was being heard went with the microphone: a reload may go ahead
    while True:
        deadline = time.monotonic() + RETRY_SECONDS
        while time.monotonic() < deadline:
            tick()  # the watchdog, SIGHUP and SIGTERM are served while we wait
            time.sleep(0.05)
        try:
            source = reopen()
        except AudioSourceError as error:
            if not reported:
                agent.emit(events.Error(agent.now, message=f"still no audio: {error}", source="audio"))
                reported = True
            continue
        agent.emit(events.Error(agent.now, message=f"audio is back: {source.description}", source="audio"))
        return source


def _source(args: argparse.Namespace, profile):
    from carvoice.audio.microphone import MicrophoneSource
    from carvoice.audio.wavfile import FileSource

    if args.demo:
        return FileSource(demo_recording(), realtime=args.realtime)
    if args.audio:
        return FileSource(args.audio, realtime=args.realtime)
    device = args.input_device if args.input_device is not None else profile.audio.input
    return MicrophoneSource(device)
