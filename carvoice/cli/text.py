"""carvoice text "SENTENCE": a typed command through the same parsing, safety and actions."""

from __future__ import annotations

import argparse
import re
import sys

from carvoice.cli._common import add_agent_options, build_agent, load_or_report, profile_dir
from carvoice.vehicle.state import VehicleState


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("text", help="run a typed command as if it had been spoken")
    parser.add_argument("sentence", nargs="+", help="the command, e.g. open the driver window")
    parser.add_argument(
        "--answer",
        metavar="WORDS",
        help="the reply if the agent asks for confirmation, e.g. yes (default: ask on the terminal, if any)",
    )
    add_agent_options(parser)
    parser.set_defaults(func=run)


def words_of(sentence: str) -> list[str]:
    """Typed text as the recogniser would produce it: lower case, no punctuation."""
    return re.findall(r"[a-z']+", sentence.lower())


def run(args: argparse.Namespace) -> int:
    profile = load_or_report(profile_dir(args.profile))
    if profile is None:
        return 2
    agent = build_agent(args, profile)
    agent.ask = lambda question: _answer(args.answer)
    if isinstance(agent.state, VehicleState):
        agent.state.wait_until_known()
    try:
        agent.handle_words(words_of(" ".join(args.sentence)))
    finally:
        agent.close()
    return 0


def _answer(given: str | None) -> list[str] | None:
    if given is not None:
        return words_of(given)
    if sys.stdin.isatty():
        try:
            return words_of(input("answer> "))
        except EOFError:
            return None
    return None
