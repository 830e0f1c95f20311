"""Options and set-up shared by the subcommands that run the agent."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from carvoice import events
from carvoice.act.can import parse_bus_spec
from carvoice.agent import Agent
from carvoice.check import load_profile
from carvoice.profile.loader import default_profile_dir
from carvoice.profile.model import Profile, ProfileError
from carvoice.recognise.engine import SpeechEngine

# The installed unit's active profile (a symlink switched atomically on install).
INSTALLED_PROFILE = Path("/etc/carvoice/profile")


def profile_dir(explicit: str | None) -> Path:
    """--profile, then $CARVOICE_PROFILE, then the installed profile, then the demo car."""
    if explicit:
        return Path(explicit)
    if os.environ.get("CARVOICE_PROFILE"):
        return Path(os.environ["CARVOICE_PROFILE"])
    if INSTALLED_PROFILE.exists():
        return INSTALLED_PROFILE
    return default_profile_dir()


def previous_profile(path: Path) -> Path | None:
    """On an installed unit, the profile that was active before this one (kept by `carvoice bundle`).

    If the active profile is damaged on disk (a failing card, a copy by hand gone wrong), the
    daemon runs the previous one rather than not at all.
    """
    candidate = path.parent / "previous"
    return candidate if path.name == "profile" and path.is_symlink() and candidate.exists() else None


def add_profile_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help=f"vehicle profile folder (default: $CARVOICE_PROFILE, {INSTALLED_PROFILE}, else the demo car)",
    )


def add_agent_options(parser: argparse.ArgumentParser) -> None:
    add_profile_option(parser)
    parser.add_argument(
        "--can",
        metavar="INTERFACE:CHANNEL",
        type=_bus_option,
        help="CAN bus, e.g. socketcan:can0 or virtual:test (default: the profile's [can]; never a network bus)",
    )
    parser.add_argument(
        "--can-log",
        metavar="FILE",
        help="write every frame on the bus, sent and heard, in candump's log format (replay with canplayer)",
    )
    parser.add_argument(
        "--events",
        choices=("text", "json"),
        default="text",
        help="print events for people (text) or as JSON lines (json)",
    )
    speech = parser.add_mutually_exclusive_group()
    speech.add_argument("--speech-dir", metavar="DIR", help="write replies as WAV files here instead of playing them")
    speech.add_argument("--no-speech", action="store_true", help="print replies without synthesising them")
    parser.add_argument("--output-device", metavar="NAME|INDEX", help="speaker (default: the profile's [audio])")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the recogniser's own log")


def _bus_option(spec: str) -> tuple[str, str]:
    """--can is refused on the command line for what a profile is refused (a bus over the network)."""
    try:
        return parse_bus_spec(spec)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def load_or_report(path: Path) -> Profile | None:
    """The profile, or None once the reason is printed; any failure, not only a ProfileError, is one."""
    try:
        return load_profile(path)
    except ProfileError as error:
        print(f"carvoice: {path}: {error}", file=sys.stderr)
    except Exception as error:  # a bug or an exhausted resource must still leave the fallback to run
        print(f"carvoice: {path}: the profile does not load: {type(error).__name__}: {error}", file=sys.stderr)
    return None


def agent_from_options(
    args: argparse.Namespace,
    profile: Profile,
    *,
    emit: events.Emit | None = None,
    engine: SpeechEngine | None = None,
    ask: Callable[[str], Sequence[str] | None] | None = None,
    default_speech_dir: str = "carvoice-speech",
) -> Agent:
    """The agent with the bus, serial ports and speech output the options and profile ask for.

    `emit`: where events go (default: printed as --events says).
    """
    from carvoice.act import ActionFailed
    from carvoice.factory import build_agent  # the bus and its threads: only for the commands that run the agent

    bus = args.can or (profile.can.interface, profile.can.channel)
    try:
        return build_agent(
            profile,
            emit or events.printer(args.events),
            bus=bus,
            can_log=args.can_log,
            speaker=_speaker(args, profile, default_speech_dir),
            engine=engine,
            ask=ask,
        )
    except (ValueError, ActionFailed, OSError) as error:
        raise SystemExit(f"carvoice: {error}") from None


def _speaker(args: argparse.Namespace, profile: Profile, default_speech_dir: str):
    from carvoice.audio import AudioSourceError
    from carvoice.speak.output import SpeakerOutput, WavDirectoryOutput
    from carvoice.speak.speaker import Speaker
    from carvoice.speak.tts import Synthesizer

    if args.no_speech:
        return None
    if args.speech_dir:
        return Speaker(Synthesizer(), WavDirectoryOutput(args.speech_dir))
    try:
        output = SpeakerOutput(args.output_device if args.output_device is not None else profile.audio.output)
    except (AudioSourceError, OSError) as error:
        print(f"carvoice: no speaker ({error}); replies go to {default_speech_dir}/", file=sys.stderr)
        return Speaker(Synthesizer(), WavDirectoryOutput(default_speech_dir))
    return Speaker(Synthesizer(), output)
