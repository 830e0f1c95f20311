"""The event stream: one small dataclass per thing that happened.

The daemon, the CLI, the evaluator and the tests all speak these. On the wire
each event is one JSON line, `{"t": <seconds into the audio>, "event": name, ...}`.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Literal, TextIO

# The stage an error event comes from (README, "Events").
ErrorSource = Literal["act", "plan", "speech", "audio", "safety", "vehicle", "profile", "wake"]
_KINDS: dict[str, type[Event]] = {}


@dataclass(frozen=True)
class Event:
    name: ClassVar[str] = "event"
    t: float

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _KINDS[cls.name] = cls

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["t"] = round(self.t, 3)
        return {"t": data.pop("t"), "event": self.name, **data}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Event:
        """The event a `to_dict` (or a JSON line of the stream) describes; ValueError for anything else."""
        kind = _KINDS.get(str(data.get("event")))
        if kind is None:
            raise ValueError(f"not an event of carvoice's stream: {data.get('event')!r}")
        names = {f.name for f in fields(kind)}
        given = {key: value for key, value in data.items() if key != "event"}
        if not names >= set(given):
            raise ValueError(f"{kind.name} has no field {', '.join(sorted(set(given) - names))}")
        try:
            return kind(**given)
        except TypeError as error:  # a required field is missing
            raise ValueError(f"{kind.name}: {error}") from None

    def describe(self) -> str:
        return ""


@dataclass(frozen=True)
class Ready(Event):
    name: ClassVar[str] = "ready"
    profile: str
    wake_phrase: str
    source: str

    def describe(self) -> str:
        return f'profile {self.profile!r}, say "{self.wake_phrase}" ({self.source})'


@dataclass(frozen=True)
class Wake(Event):
    name: ClassVar[str] = "wake"
    phrase: str
    by: Literal["phrase", "button"] = "phrase"  # or the profile's push-to-talk button

    def describe(self) -> str:
        return f'"{self.phrase}"' if self.by == "phrase" else f"{self.by} pressed"


@dataclass(frozen=True)
class Tone(Event):
    """The wake tone played: the agent listens for a command."""

    name: ClassVar[str] = "tone"
    file: str | None = None

    def describe(self) -> str:
        return self.file or ""


@dataclass(frozen=True)
class ListenOn(Event):
    """A sound after the wake phrase began no command (a clatter): dropped, and the agent listens
    on for the command for the `seconds` of listening time left (README, "A noise before the command")."""

    name: ClassVar[str] = "listen_on"
    seconds: float

    def describe(self) -> str:
        return f"no command begun; listening {self.seconds:.1f} s more"


@dataclass(frozen=True)
class Intent(Event):
    name: ClassVar[str] = "intent"
    intent: str
    slots: dict[str, Any]
    text: str
    confidence: float

    def describe(self) -> str:
        slots = ", ".join(f"{k}={v}" for k, v in self.slots.items())
        return f'{self.intent} {{{slots}}} heard "{self.text}" (confidence {self.confidence:.2f})'


@dataclass(frozen=True)
class Rejected(Event):
    name: ClassVar[str] = "rejected"
    reason: str
    text: str = ""  # nothing was heard
    confidence: float = 0.0

    def describe(self) -> str:
        heard = f' heard "{self.text}"' if self.text else ""
        return f"{self.reason}{heard} (confidence {self.confidence:.2f})"


@dataclass(frozen=True)
class Refused(Event):
    name: ClassVar[str] = "refused"
    intent: str
    reason: str

    def describe(self) -> str:
        return f"{self.intent}: {self.reason}"


@dataclass(frozen=True)
class Confirm(Event):
    name: ClassVar[str] = "confirm"
    intent: str
    question: str
    # why asked when the profile's confirm_when did not: heard unsure, a rival close in noise, or a
    # last word whose end the noise covers
    reason: str = ""

    def describe(self) -> str:
        return f'{self.intent}: "{self.question}"' + (f" ({self.reason})" if self.reason else "")


@dataclass(frozen=True)
class Answer(Event):
    name: ClassVar[str] = "answer"
    answer: Literal["yes", "no", "none"]  # none: nothing clear within the time
    text: str
    confidence: float

    def describe(self) -> str:
        heard = f' heard "{self.text}"' if self.text else ""
        return f"{self.answer}{heard} (confidence {self.confidence:.2f})"


@dataclass(frozen=True)
class Can(Event):
    name: ClassVar[str] = "can"
    frame: str
    message: str | None  # None: a raw frame, not a DBC message
    signals: dict[str, Any]
    channel: str

    def describe(self) -> str:
        signals = " ".join(f"{k}={v}" for k, v in self.signals.items())
        return f"{self.frame}  {self.message or 'raw'} {signals}".rstrip()


@dataclass(frozen=True)
class Serial(Event):
    name: ClassVar[str] = "serial"
    port: str
    data: str
    reply: str | None  # None: no answer was waited for

    def describe(self) -> str:
        reply = f" -> {self.reply!r}" if self.reply is not None else ""
        return f"{self.port} <- {self.data!r}{reply}"


@dataclass(frozen=True)
class Say(Event):
    name: ClassVar[str] = "say"
    text: str
    file: str | None = None  # None: played, or not synthesised at all

    def describe(self) -> str:
        where = f"  [{self.file}]" if self.file else ""
        return f'"{self.text}"{where}'


@dataclass(frozen=True)
class Error(Event):
    name: ClassVar[str] = "error"
    message: str
    source: ErrorSource

    def describe(self) -> str:
        return f"{self.source}: {self.message}" if self.source else self.message


Emit = Callable[[Event], None]


def json_line(event: Event) -> str:
    return json.dumps(event.to_dict(), ensure_ascii=False, default=str)


def from_json_line(line: str) -> Event:
    """One line of `--events json` back as the event it was written from."""
    return Event.from_dict(json.loads(line))


def human_line(event: Event) -> str:
    return f"{event.t:8.2f}  {event.name:<9}{event.describe()}"


# syslog priorities (sd-daemon(3) "<N>" line prefixes): journald stores each line at its level.
JOURNAL_LEVELS = {"error": 3, "rejected": 5}
INFO = 6


def journal_line(event: Event) -> str:
    """A human line with its priority prefix, for stdout connected to journald."""
    return f"<{JOURNAL_LEVELS.get(event.name, INFO)}>{event.name:<9}{event.describe()}"


_claimed: list[TextIO] = []


def claim_stdout() -> TextIO:
    """The process's stdout, for events alone; whatever else is written to it goes to stderr from now on.

    Libraries print on stdout (pyttsx3's driver from espeak-ng's own thread, at any moment on a slow
    CPU; C code straight to file descriptor 1), which would break a JSON event stream. So the events
    keep a copy of the descriptor and descriptor 1 becomes stderr. A stdout the caller replaced (a
    test's capture, an embedding program) has no descriptor to protect and is used as it is.
    """
    if _claimed:
        return _claimed[0]
    original = sys.__stdout__
    if original is None or sys.stdout is not original:
        return sys.stdout
    original.flush()
    events_fd = os.dup(1)
    os.dup2(2, 1)
    _claimed.append(os.fdopen(events_fd, "w", encoding="utf-8", errors="backslashreplace"))
    return _claimed[0]


def printer(style: Literal["text", "json"], stream: TextIO | None = None) -> Emit:
    """An emitter writing each event as it happens, as JSON lines or for a person (or journald).

    Without a stream, the events take stdout for themselves (claim_stdout).
    """
    format_event = json_line if style == "json" else human_line
    lock = threading.Lock()  # the bus and OBD threads report too: one whole line at a time
    if style == "text" and stream is None and os.environ.get("JOURNAL_STREAM"):
        format_event = journal_line  # systemd sets JOURNAL_STREAM when stdout goes to the journal
    out = stream or claim_stdout()

    def emit(event: Event) -> None:
        with lock:
            out.write(format_event(event) + "\n")
            out.flush()

    return emit
