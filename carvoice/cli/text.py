"""carvoice text "SENTENCE": a typed command through the same parsing, safety and actions.

Its exit status says what became of the command, so an acceptance test is one line:

    carvoice text --can socketcan:vcan0 --expect-frame 321#2B02 "set the heater to twenty one and a half"
"""

from __future__ import annotations

import argparse
import re
import sys

from carvoice import events
from carvoice.act.plan import CanFrame
from carvoice.cli._common import add_agent_options, agent_from_options, load_or_report, profile_dir
from carvoice.profile.model import parse_frame_text
from carvoice.vehicle.state import VehicleState

# Exit statuses (README, "Typed commands"): what became of the command.
DONE = 0  # carried out, or answered
FAILED = 1  # an action failed, or the bus could not be opened
USAGE = 2  # the command line is wrong (argparse's own)
NOT_UNDERSTOOD = 3  # not a command of the profile
REFUSED = 4  # a safety rule refused it, a value it needs is unknown, or no clear yes to its question
PROFILE_ERROR = 5  # the profile does not load
NOT_EXPECTED = 6  # it was carried out, but the frames sent are not the --expect-frame ones
# Errors of these stages mean the command was not carried out (a speech error still carried it out).
_FAILING_SOURCES = frozenset({"act", "plan", "safety"})


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "text",
        help="run a typed command as if it had been spoken",
        description="Exit status: 0 carried out or answered, 1 failed, 3 not understood, 4 refused"
        " (or not confirmed), 5 profile error, 6 other frames than --expect-frame were sent.",
    )
    parser.add_argument("sentence", nargs="+", help="the command, e.g. open the driver window")
    parser.add_argument(
        "--answer",
        metavar="WORDS",
        help="the reply if the agent asks for confirmation, e.g. yes (default: ask on the terminal, if any)",
    )
    parser.add_argument(
        "--expect-frame",
        action="append",
        default=[],
        type=_frame,
        metavar="ID#HEX",
        help="the frames the command must send, exactly these (repeat for several), e.g. 2F1#0100",
    )
    add_agent_options(parser)
    parser.set_defaults(func=run)


def words_of(sentence: str) -> list[str]:
    """Typed text as the recogniser would produce it: lower case, no punctuation."""
    return re.findall(r"[a-z']+", sentence.lower())


def run(args: argparse.Namespace) -> int:
    profile = load_or_report(profile_dir(args.profile))
    if profile is None:
        return PROFILE_ERROR
    outcome = Outcome(events.printer(args.events))
    agent = agent_from_options(args, profile, emit=outcome, ask=lambda question: _answer(args.answer))
    if isinstance(agent.state, VehicleState):
        agent.state.wait_until_known()
    try:
        agent.handle_words(words_of(" ".join(args.sentence)))
    finally:
        agent.close()
    status = outcome.status()
    if status == DONE and args.expect_frame and sorted(outcome.frames) != sorted(args.expect_frame):
        sent = ", ".join(_text(f) for f in outcome.frames) or "none"
        expected = ", ".join(_text(f) for f in args.expect_frame)
        print(f"carvoice text: expected the frames {expected}; sent {sent}", file=sys.stderr)
        return NOT_EXPECTED
    return status


class Outcome:
    """Passes events on, and keeps what the exit status is made of."""

    def __init__(self, emit: events.Emit) -> None:
        self.emit = emit
        self.kinds: set[str] = set()
        self.frames: list[tuple[int, bytes, bool]] = []

    def __call__(self, event: events.Event) -> None:
        if isinstance(event, events.Error) and event.source in _FAILING_SOURCES:
            self.kinds.add("failed")
        elif isinstance(event, events.Refused) or (isinstance(event, events.Answer) and event.answer != "yes"):
            self.kinds.add("refused")
        elif isinstance(event, events.Rejected):
            self.kinds.add("rejected")
        elif isinstance(event, events.Can) and (frame := parse_frame_text(event.frame)) is not None:
            self.frames.append(frame)
        self.emit(event)

    def status(self) -> int:
        for kind, status in (("failed", FAILED), ("refused", REFUSED), ("rejected", NOT_UNDERSTOOD)):
            if kind in self.kinds:
                return status
        return DONE


def _frame(text: str) -> tuple[int, bytes, bool]:
    frame = parse_frame_text(text)
    if frame is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a frame like 2F1#0100 (3 or 8 hex digits, #, bytes)")
    return frame


def _text(frame: tuple[int, bytes, bool]) -> str:
    return CanFrame(*frame).text


def _answer(given: str | None) -> list[str] | None:
    if given is not None:
        return words_of(given)
    if sys.stdin.isatty():
        try:
            return words_of(input("answer> "))
        except EOFError:
            return None
    return None
