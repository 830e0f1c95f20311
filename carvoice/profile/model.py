"""What a vehicle profile says, independent of the TOML files it was written in."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from carvoice.errors import CarvoiceError
from carvoice.intent import Grammar, SlotType
from carvoice.intent.grammar import SlotValueType
from carvoice.profile.conditions import Condition


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a profile, located so an installer can go straight to it."""

    file: Path | None
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = str(self.file) if self.file else "profile"
        if self.line:
            where += f":{self.line}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ProfileError(CarvoiceError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        count = len(problems)
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"the profile has {count} problem{'s' if count != 1 else ''}:\n{lines}")


WakeEngine = Literal["pocketsphinx", "micro"]
POCKETSPHINX: WakeEngine = "pocketsphinx"  # keyphrase spotting: any phrase in the dictionary
MICRO: WakeEngine = "micro"  # microWakeWord: a neural model per phrase
WAKE_ENGINES: tuple[WakeEngine, ...] = (POCKETSPHINX, MICRO)
Accent = Literal["american", "british"]
AMERICAN: Accent = "american"  # the words as CMUdict and the acoustic model have them
BRITISH: Accent = "british"  # and each word's southern British form beside them (`dictionary.british`)
ACCENTS: tuple[Accent, ...] = (AMERICAN, BRITISH)
# In the names of the wake phrase's word endings (carvoice.profile.loader._wake_tails), which the
# command recogniser hears as the lead-in to a command.
LEAD_IN_MARK = "~"
KEYPHRASE_THRESHOLD = 1e5  # PocketSphinx's default here: README, "Wake phrase"


@dataclass(frozen=True)
class WakeSettings:
    phrase: str  # what the driver is told to say
    engine: WakeEngine = POCKETSPHINX
    # PocketSphinx: the keyphrase ratio (smaller wakes more easily); micro: the probability
    # cutoff, by default the model's own.
    threshold: float = KEYPHRASE_THRESHOLD
    # micro: the model as loaded and checked (carvoice.wake.micro.MicroModel), kept so that the
    # daemon never reads the installer's file again after the profile loaded.
    model: Any = None
    # Push-to-talk: its press starts listening, as the phrase does. A [state] value from a CAN
    # signal (its name), or a switch on a serial port's modem lines.
    button: str | SerialButton | None = None


# A serial port's modem status inputs, and the output that feeds each in the usual wiring (a DB9
# loopback plug joins RTS to CTS, and DTR to DSR and CD): the switch closes output to input.
BUTTON_LINES = {"CTS": "RTS", "DSR": "DTR", "CD": "DTR", "RI": "DTR"}
BUTTON_FEEDS = ("RTS", "DTR")


@dataclass(frozen=True)
class SerialButton:
    """A momentary switch between an output the agent holds asserted (`feed`) and a status input (`line`)."""

    port: str  # a [serial.NAME] port of its own
    line: str  # CTS, DSR, CD or RI: pressed while asserted
    feed: str  # RTS or DTR

    def __str__(self) -> str:
        return f"{self.line} on serial.{self.port}"


@dataclass(frozen=True)
class AudioSettings:
    input: str | int | None = None
    output: str | int | None = None


@dataclass(frozen=True)
class CanSettings:
    interface: str = "virtual"
    channel: str = "carvoice"
    bitrate: int | None = None
    dbc: Path | None = None


@dataclass(frozen=True)
class SerialPortSettings:
    name: str
    url: str
    baudrate: int = 9600


@dataclass(frozen=True)
class RecognitionSettings:
    min_confidence: float = 0.5
    # For intents that only speak (questions, help, cancel): a mishearing there costs a wrong
    # sentence, not a moved car, so less certainty is asked for.
    min_confidence_to_answer: float = 0.2
    listen_seconds: float = 5.0
    max_command_seconds: float = 7.0
    trailing_silence: float = 0.6
    # The silence that ends a command more words would change ("set the temperature to twenty",
    # perhaps before "six"): a pause of 0.3-0.45 s inside a number, with quiet word edges around
    # it, reached 0.6 s and the car acted on "twenty" (README, "Pauses inside a number").
    unfinished_silence: float = 1.2
    # A command that would act, heard with less confidence than this, is asked about first
    # ("open the boot?"): a yes carries it out. 12 of 28 near misses acted on in the tuning voices
    # lay between the floor above and 0.8, with 24 of 273 commands heard right (README, "Asking
    # before acting on a doubtful hearing"); 0 never asks.
    confirm_below: float = 0.8
    # The drivers' accent. British is not the default: its forms also let more cut-off American
    # "-er" words through (README, "British speakers").
    accent: Accent = AMERICAN


@dataclass(frozen=True)
class Replies:
    not_understood: str = "Sorry?"
    failed: str = "Sorry, that did not work."
    refused: str = "I can't do that right now."
    unknown_state: str = "I can't tell the {name} right now, so I won't do that."
    confirm: str = "Are you sure? Say yes or no."
    # asked when a command was heard unsure (confirm_below, a rival close in noise, its end as quiet as the
    # noise or its last sound squeezed by it)
    confirm_heard: str = "{command}?"
    cancelled: str = "OK, I won't."
    no_answer: str = "I didn't hear a yes, so I won't."


@dataclass(frozen=True)
class CanAction:
    message: str
    signals: dict[str, str | float]
    when: Condition | None = None
    key: str = ""
    clamp: tuple[float, float] | None = None  # numeric values are held inside these limits


@dataclass(frozen=True)
class RawFrameAction:
    arbitration_id: int
    data: bytes
    extended: bool
    when: Condition | None = None
    key: str = ""


@dataclass(frozen=True)
class SerialAction:
    port: str
    write: str
    expect: str | None = None
    timeout: float = 1.0
    when: Condition | None = None
    key: str = ""


Action = CanAction | RawFrameAction | SerialAction


def diagnostic_id(arbitration_id: int, extended: bool) -> bool:
    """An OBD-II or UDS identifier (ISO 15765-4): 0x7DF reaches every ECU at once, 0x7E0-0x7EF one each,
    and 29-bit 0x18DB.... / 0x18DA.... the same. Only OBD-II polling may send on them, never a command."""
    if extended:
        return arbitration_id >> 16 in (0x18DA, 0x18DB)
    return arbitration_id == 0x7DF or 0x7E0 <= arbitration_id <= 0x7EF


# can-utils' compact form of a frame: 3 hex digits (11-bit id) or 8 (29-bit), #, up to 8 bytes.
FRAME_TEXT = re.compile(r"([0-9A-Fa-f]{3}|[0-9A-Fa-f]{8})#((?:[0-9A-Fa-f]{2}){0,8})")


def parse_frame_text(text: str) -> tuple[int, bytes, bool] | None:
    """`123#0102` -> (0x123, b"\x01\x02", extended False); None when it is not that form."""
    match = FRAME_TEXT.fullmatch(text.strip())
    if match is None:
        return None
    ident, payload = match.groups()
    return int(ident, 16), bytes.fromhex(payload), len(ident) == 8


# How a status message's checksum byte is computed from its other bytes (carvoice.vehicle.integrity).
ChecksumType = Literal["xor", "sum", "crc8"]
CHECKSUM_TYPES: tuple[ChecksumType, ...] = ("xor", "sum", "crc8")


@dataclass(frozen=True)
class StateSource:
    """Where a named vehicle value comes from: a DBC signal on the bus, or an OBD-II PID."""

    name: str
    max_age: float  # seconds; older values are unknown, not stale-but-trusted
    message: str | None = None
    signal: str | None = None
    obd_pid: int | None = None
    # Signals of the same message that show its frames are in sequence (carvoice.vehicle.integrity).
    counter: str | None = None
    checksum: str | None = None
    checksum_type: ChecksumType | None = None
    # An OBD-II value's range (SAE J1979: coolant -40..215 degrees, engine speed to 16383.75 rpm), so
    # that the profile check plans a command with the car at both ends of it.
    limits: tuple[float, float] | None = None


@dataclass(frozen=True)
class ObdSettings:
    """OBD-II polling: over the CAN bus (ISO-TP) or an ELM327 adapter at a pyserial URL."""

    source: str = "can"
    poll_seconds: float = 1.0
    baudrate: int = 38400


@dataclass(frozen=True)
class Reply:
    text: str
    when: Condition | None = None


@dataclass(frozen=True)
class Intent:
    name: str
    sentences: tuple[str, ...]
    actions: tuple[Action, ...] = ()
    replies: tuple[Reply, ...] = ()
    defaults: dict[str, SlotValueType] = field(default_factory=dict)
    examples: tuple[str, ...] = ()
    allow_when: Condition | None = None  # otherwise refused, also when a value it needs is unknown
    allow_when_text: str = ""
    refusal: str = ""
    confirm_when: Condition | None = None  # ask first; unknown values ask too
    question: str = ""
    confirm_below: float | None = None  # the profile's [recognition] confirm_below unless set here
    slot_values: dict[str, tuple[SlotValueType, ...]] = field(default_factory=dict)
    slot_sets: tuple[frozenset[str], ...] = ()


@dataclass
class Profile:
    root: Path
    name: str
    wake: WakeSettings
    audio: AudioSettings
    can: CanSettings
    serial: dict[str, SerialPortSettings]
    vehicle: dict[str, str | int | float]
    recognition: RecognitionSettings
    replies: Replies
    intents: dict[str, Intent]
    slot_types: dict[str, SlotType]
    pronunciations: dict[str, list[str]]
    grammar: Grammar
    dbc: Any = None
    files: tuple[Path, ...] = ()
    state: dict[str, StateSource] = field(default_factory=dict)
    obd: ObdSettings | None = None

    def confirm_below(self, intent: Intent) -> float:
        """Below this confidence a command of `intent` that acts is asked about first (0: never). For a
        command that only answers, the profile's is the bar at which a last sound squeezed by noise is
        answered instead of rejected (`Recognition.answer_below`; 0: never)."""
        return self.recognition.confirm_below if intent.confirm_below is None else intent.confirm_below

    def asks_when_unsure(self, intent: Intent) -> bool:
        """Whether a command of `intent` heard unsure is asked about: only one that acts (a wrong
        answer moves nothing), and none where confirm_below is 0 (never ask). The safety gate asks by
        it, and the recogniser lets a reason to ask stand for a doubt only where it holds (and, for a
        command that only answers heard at confirm_below or above, a last sound squeezed alone, then
        answered: `Recognition.answer_below`)."""
        return bool(intent.actions) and self.confirm_below(intent) > 0

    def readings(self, words: list[str]) -> list[tuple[str, dict[str, SlotValueType]]]:
        """Each distinct (intent, slots) the words can mean, with the intent's defaults filled in."""
        result: list[tuple[str, dict[str, SlotValueType]]] = []
        for parse in self.grammar.parse(words):
            reading = (parse.intent, {**self.intents[parse.intent].defaults, **parse.slot_dict})
            if reading not in result:
                result.append(reading)
        return result

    @property
    def dictionary_words(self) -> frozenset[str]:
        return self.grammar.words | frozenset(self.wake.phrase.split())
