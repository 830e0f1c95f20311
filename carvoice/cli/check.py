"""carvoice check [PROFILE]: validate a profile the way the daemon loads it."""

from __future__ import annotations

import argparse
import json
import sys

from carvoice.check import load_profile
from carvoice.cli._common import profile_dir
from carvoice.profile.model import ProfileError
from carvoice.profile.summary import describe


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("check", help="check a vehicle profile and compile its grammar")
    parser.add_argument("profile", nargs="?", metavar="PROFILE", help="profile folder (default as for run)")
    parser.add_argument("--json", action="store_true", help="print what the profile understands, as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = profile_dir(args.profile)
    try:
        profile = load_profile(path)
    except ProfileError as error:
        print(f"{path}: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(describe(profile), indent=2, ensure_ascii=False))
        return 0
    words = len(profile.dictionary_words)
    wake = profile.wake
    engine = f"{wake.engine}, model {wake.model.config.stem}" if wake.model else wake.engine
    button = f", button {wake.button}" if wake.button else ""
    print(
        f'{path}: OK: {profile.name!r}, wake phrase "{wake.phrase}" ({engine}, threshold {wake.threshold:g}{button}), '
        f"{len(profile.intents)} intents, {words} words, {len(profile.grammar.arcs)} grammar arcs, "
        f"{len(profile.files)} files"
    )
    return 0
