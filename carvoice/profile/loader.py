"""Reads a profile folder of TOML files into a `Profile`, or lists everything wrong with it.

Installers are not programmers: every problem is collected (not just the first)
and located by file, line and key, and unknown keys are reported because a
typo in a key would otherwise be silently ignored.
"""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any

from carvoice.act import protocol_relayboard as relayboard
from carvoice.act.can import network_bus_problem
from carvoice.act.plan import PlanError, extreme_states, parse_frame_text, plan_actions, slot_combinations
from carvoice.errors import UnknownValue
from carvoice.intent import (
    GrammarError,
    Rule,
    Sentence,
    SlotType,
    SlotValue,
    TemplateError,
    compile_grammar,
    parse_template,
    spoken_forms,
)
from carvoice.intent.grammar import slot_refs, slot_sets
from carvoice.intent.template import Choice, Expr, Sequence, SlotRef, Word, template_words
from carvoice.profile import dictionary, placeholders
from carvoice.profile.conditions import Condition, ConditionError, names, parse_condition
from carvoice.profile.model import (
    CHECKSUM_TYPES,
    KEYPHRASE_THRESHOLD,
    LEAD_IN_MARK,
    POCKETSPHINX,
    WAKE_ENGINES,
    Action,
    AudioSettings,
    CanAction,
    CanSettings,
    Intent,
    ObdSettings,
    Problem,
    Profile,
    ProfileError,
    RawFrameAction,
    RecognitionSettings,
    Replies,
    Reply,
    SerialAction,
    SerialPortSettings,
    StateSource,
    WakeSettings,
    diagnostic_id,
)
from carvoice.profile.positions import Positions
from carvoice.profile.suggest import known_names, nearest
from carvoice.vehicle.integrity import checksum_byte
from carvoice.vehicle.obd import PIDS
from carvoice.wake.micro import MicroModel

MAIN_FILE = "profile.toml"
# What a profile, which may come from anyone, may name. pyserial's spy:// writes a log to any
# file and rfc2217:// or hwgrep:// are not ports a head unit has.
SERIAL_URL_SCHEMES = ("loop", "socket", "relayboard")

_SINGLE_TABLES = ("profile", "wake", "audio", "can", "obd", "recognition", "replies")
_MERGED_TABLES = ("serial", "vehicle", "state", "pronunciations", "rules", "slots", "intents")
_KEYS = {
    "profile": {"name", "description"},
    "wake": {"phrase", "engine", "model", "threshold", "button"},
    "audio": {"input", "output"},
    "can": {"interface", "channel", "bitrate", "dbc"},
    "obd": {"source", "poll_seconds", "baudrate"},
    "state_source": {"signal", "obd", "max_age", "counter", "checksum", "checksum_type"},
    "recognition": {
        "min_confidence",
        "min_confidence_to_answer",
        "listen_seconds",
        "max_command_seconds",
        "trailing_silence",
    },
    "replies": {"not_understood", "failed", "refused", "unknown_state", "confirm", "cancelled", "no_answer"},
    "serial_port": {"url", "baudrate"},
    "slot": {"values", "range", "step"},
    "intent": {
        "sentences",
        "defaults",
        "examples",
        "reply",
        "replies",
        "actions",
        "description",
        "allow_when",
        "refusal",
        "confirm_when",
        "question",
    },
    "reply": {"text", "when"},
    "can_action": {"can", "signals", "when", "clamp"},
    "frame_action": {"frame", "when"},
    "serial_action": {"serial", "write", "expect", "timeout", "when"},
}
REPLY_EXAMPLES = "examples"
# A number slot is a list of words for the recogniser, each value a spoken form in the grammar.
MAX_RANGE_VALUES = 1000
_MAX_DECIMAL_PLACES = 3
# One TOML file of a profile: the demo car's largest is 4 KB; the TOML reader holds many times this.
MAX_TOML_BYTES = 4 * 2**20
_DIAGNOSTIC = (
    "{ident} is a diagnostic (OBD-II/UDS) identifier that ECUs obey, 7DF all of them at once:"
    " only [obd] polling may use it, never a command"
)


@dataclass(frozen=True)
class Origin:
    """Where a template came from, so grammar errors point back into the right file."""

    file: Path
    key: str
    text: str


def load_profile(root: Path | str) -> Profile:
    """Load and fully check a profile; raises ProfileError listing every problem."""
    return _Loader(Path(root)).load()


def profile_digest(root: Path | str) -> str:
    """One hash over every file of a profile folder: which profile is running, exactly."""
    root = Path(root)
    return files_digest({p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()})


def files_digest(files: Mapping[str, bytes]) -> str:
    """profile_digest of a folder given as {relative path: contents}; a bundle computes it before unpacking."""
    digest = hashlib.sha256()
    for name in sorted(files, key=PurePosixPath):
        digest.update(name.encode() + b"\0" + files[name] + b"\0")
    return digest.hexdigest()


def default_profile_dir() -> Path:
    """The demo car's profile beside the package, for a checkout or an editable install."""
    return Path(__file__).resolve().parents[2] / "config" / "demo_car"


class _Loader:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: list[Problem] = []
        self.sources: dict[Path, Positions] = {}
        self.owner: dict[str, Path] = {}
        # Keys that are defined but unusable (a slot with a bad range, a DBC that does not load):
        # they are reported once, and whatever names them is not reported again.
        self.broken: set[str] = set()

    # -- reporting ---------------------------------------------------------------

    def problem(self, file: Path | None, key: str, message: str, *needles: str) -> None:
        """A problem at the line where `key` is written in `file` (a needle picks a line within a long value)."""
        line = None
        if file is not None and file in self.sources:
            line = self.sources[file].line_of(key, *needles)
        self.problems.append(Problem(file, line, key, message))

    def _file_of(self, key: str) -> Path | None:
        parts = key.split(".")
        for size in range(len(parts), 0, -1):
            owner = self.owner.get(".".join(parts[:size]).split("[", 1)[0])
            if owner is not None:
                return owner
        return None

    def report(self, key: str, message: str, *needles: str) -> None:
        self.problem(self._file_of(key), key, message, *needles)

    # -- reading -----------------------------------------------------------------

    def load(self) -> Profile:
        data = self._read_files()
        if data is None:
            raise ProfileError(self.problems)
        profile = self._build(data)
        if self.problems or profile is None:
            raise ProfileError(self.problems)
        return profile

    def _read_files(self) -> dict[str, Any] | None:
        if not self.root.is_dir():
            self.problem(self.root, "", "no such profile folder")
            return None
        main = self.root / MAIN_FILE
        if not main.is_file():
            self.problem(main, "", f"a profile needs {MAIN_FILE} (wake phrase, CAN bus, ...)")
            return None
        files = [main, *sorted(p for p in self.root.glob("*.toml") if p.name != MAIN_FILE)]
        merged: dict[str, Any] = {}
        for path in files:
            if not path.is_file():  # a pipe would block the loader (and a reload) for ever
                self.problem(path, "", "not a plain file (a pipe, device or folder named .toml)")
                continue
            try:
                with path.open("rb") as stream:
                    raw = stream.read(MAX_TOML_BYTES + 1)
            except OSError as error:
                self.problem(path, "", f"cannot read: {error}")
                continue
            if len(raw) > MAX_TOML_BYTES:
                self.problem(path, "", f"more than {MAX_TOML_BYTES // 2**20} MiB: not a profile file")
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                # An editor in another encoding or a half-written file: say which line to look at.
                line = raw[: error.start].count(b"\n") + 1
                self.problems.append(
                    Problem(path, line, "", f"not UTF-8 text: byte {raw[error.start]:#04x} is not valid")
                )
                continue
            try:
                data = tomllib.loads(text)
            except RecursionError:  # Python's TOML reader recurses once per level of nested arrays and tables
                line = _too_deep_line(text)
                self.problems.append(Problem(path, line, "", "not valid TOML here: arrays or tables nested too deeply"))
                continue
            except tomllib.TOMLDecodeError as error:
                match = re.search(r"\(at line (\d+), column (\d+)\)", str(error))
                line = int(match.group(1)) if match else len(text.splitlines())  # "(at end of document)"
                message = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", str(error))
                self.problems.append(Problem(path, line, "", f"not valid TOML: {message}"))
                continue
            self.sources[path] = Positions(text)
            self._merge(path, data, merged)
        return merged

    def _merge(self, path: Path, data: dict[str, Any], merged: dict[str, Any]) -> None:
        for table, value in data.items():
            if table not in _SINGLE_TABLES and table not in _MERGED_TABLES:
                self.problem(path, table, "unknown section " + known_names(table, _SINGLE_TABLES + _MERGED_TABLES))
                continue
            if not isinstance(value, dict):
                self.problem(path, table, "must be a table, written [" + table + "]")
                continue
            if table in _SINGLE_TABLES:
                if table in merged:
                    self.problem(path, table, f"already given in {self.owner[table].name}")
                    continue
                merged[table] = value
                self.owner[table] = path
                continue
            target = merged.setdefault(table, {})
            for name, entry in value.items():
                key = f"{table}.{name}"
                if name in target:
                    self.problem(path, key, f"already defined in {self.owner[key].name}")
                    continue
                target[name] = entry
                self.owner[key] = path

    # -- building ----------------------------------------------------------------

    def _build(self, data: dict[str, Any]) -> Profile | None:
        info = self._table(data, "profile")
        wake = self._wake(self._table(data, "wake"))
        audio = self._audio(self._table(data, "audio"))
        can = self._can(self._table(data, "can"))
        serial = self._serial_ports(data.get("serial", {}))
        vehicle = self._vehicle(data.get("vehicle", {}))
        recognition = self._recognition(self._table(data, "recognition"))
        replies = self._replies(self._table(data, "replies"))
        pronunciations = self._pronunciations(data.get("pronunciations", {}))
        rules = self._rules(data.get("rules", {}))
        slot_types = self._slots(data.get("slots", {}), rules)
        intents_data = data.get("intents", {})
        if not intents_data:
            self.problem(self.root / MAIN_FILE, "intents", "the profile defines no intents (commands)")
        sentences = self._sentences(intents_data)
        grammar = self._grammar(sentences, slot_types, rules, _wake_tails(wake, pronunciations))
        dbc = self._dbc(can)
        obd = self._obd(data.get("obd"))
        state = self._state(data.get("state", {}), dbc, obd)
        # What conditions and replies may name besides slots; a broken [state] entry is reported
        # once, not again in every rule that names it.
        names = set(vehicle) | set(state) | self._broken_names("state")
        if wake is not None and wake.button is not None:
            self._check_button(wake.button, state, dbc)
        intents = {
            name: self._intent(name, intent_data, sentences.get(name, []), rules, slot_types, names, serial)
            for name, intent_data in intents_data.items()
            if isinstance(intent_data, dict)
        }
        if dbc is not None:
            self._check_diagnostic_messages(intents, dbc)
        if wake is not None:
            self._check_dictionary(wake, pronunciations, sentences, rules, slot_types)
        if wake is None or can is None or grammar is None:
            return None
        profile = Profile(
            root=self.root,
            name=str(info.get("name", self.root.name)),
            wake=wake,
            audio=audio,
            can=can,
            serial=serial,
            vehicle=vehicle,
            recognition=recognition,
            replies=replies,
            intents=intents,
            slot_types=slot_types,
            pronunciations=pronunciations,
            grammar=grammar,
            dbc=dbc,
            files=tuple(self.sources),
            state=state,
            obd=obd,
        )
        if not self.problems:
            self._check_behaviour(profile)
        return profile

    def _broken_names(self, table: str) -> set[str]:
        return {key.split(".", 1)[1] for key in self.broken if key.startswith(table + ".")}

    def _grammar(
        self,
        sentences: dict[str, list[Sentence]],
        slot_types: dict[str, SlotType],
        rules: dict[str, Rule],
        lead_in: Expr | None,
    ) -> Any:
        """The compiled grammar, or None once its problems are reported.

        Slots and rules that are defined but broken stand in empty, so a sentence that uses
        one does not add "not defined" to the problem already reported where it is defined.
        """
        slot_types = {**{n: SlotType(n, ()) for n in self._broken_names("slots")}, **slot_types}
        rules = {**{n: Rule(Sequence(())) for n in self._broken_names("rules")}, **rules}
        try:
            return compile_grammar(sentences, slot_types, rules, lead_in)
        except GrammarError as error:
            for p in error.problems:
                origin: Origin = p.origin
                message = p.message
                if p.undefined:
                    known = slot_types if p.undefined_kind == "slot" else rules
                    message += " " + known_names(p.undefined, known, "defined")
                self.problem(origin.file, origin.key, message, origin.text)
            return None

    def _table(self, data: dict[str, Any], name: str) -> dict[str, Any]:
        table = data.get(name, {})
        self._unknown_keys(name, table, _KEYS[name])
        return table

    @staticmethod
    def _misspelt(table: dict[str, Any], allowed: set[str], name: str) -> bool:
        """True when the table has an unknown key most like `name`: it is reported as unknown (with
        "did you mean"), so that `name` is missing is the same mistake and not said again."""
        return any(key not in allowed and nearest(str(key), allowed) == name for key in table)

    def _unknown_keys(self, key: str, table: dict[str, Any], allowed: set[str]) -> None:
        for name in table:
            if name not in allowed:
                self.report(f"{key}.{name}", "unknown key " + known_names(name, allowed))

    def _typed(self, table: dict[str, Any], key: str, name: str, kind: type | tuple, default: Any) -> Any:
        value = table.get(name, default)
        if value is default:
            return value
        if isinstance(value, bool) or not isinstance(value, kind):
            kinds = kind if isinstance(kind, tuple) else (kind,)
            wanted = " or ".join(
                {"str": "text", "int": "a whole number", "float": "a number"}[k.__name__] for k in kinds
            )
            self.report(f"{key}.{name}", f"must be {wanted}, not {value!r}")
            return default
        return value

    def _positive(self, table: dict[str, Any], key: str, name: str, default: float) -> float:
        value = float(self._typed(table, key, name, (int, float), default))
        if value <= 0:
            self.report(f"{key}.{name}", f"must be greater than 0, not {value}")
            return default
        return value

    def _wake(self, table: dict[str, Any]) -> WakeSettings | None:
        phrase = self._typed(table, "wake", "phrase", str, None)
        if not phrase:
            if phrase is None and not self._misspelt(table, _KEYS["wake"], "phrase") and "phrase" not in table:
                self.problem(self.owner.get("wake", self.root / MAIN_FILE), "wake.phrase", "a wake phrase is required")
            elif phrase == "":
                self.report("wake.phrase", "a wake phrase is required")
            return None
        words = phrase.lower().split()
        if not all(re.fullmatch(r"[a-z][a-z']*", w) for w in words):
            self.report("wake.phrase", f"{phrase!r}: letters and apostrophes only", phrase)
        engine = self._typed(table, "wake", "engine", str, POCKETSPHINX)
        if engine not in WAKE_ENGINES:
            self.report("wake.engine", f"{engine!r}: one of {', '.join(WAKE_ENGINES)}", engine)
            return None
        button = self._typed(table, "wake", "button", str, None)
        if engine == POCKETSPHINX:
            if "model" in table:
                self.report("wake.model", 'only the "micro" engine takes a model (engine = "micro")')
            threshold = self._typed(table, "wake", "threshold", (int, float), KEYPHRASE_THRESHOLD)
            if not 1e-60 <= threshold <= 1e60:
                self.report(
                    "wake.threshold", f"must be between 1e-60 and 1e60 (smaller wakes more easily), not {threshold}"
                )
                threshold = KEYPHRASE_THRESHOLD
            return WakeSettings(" ".join(words), engine, float(threshold), button=button)
        model = self._wake_model(self._typed(table, "wake", "model", str, None))
        if model is None:
            return None
        threshold = self._typed(table, "wake", "threshold", (int, float), model.cutoff)
        if not 0 < threshold < 1:
            self.report("wake.threshold", f"the micro engine's cutoff is a probability (0 to 1), not {threshold}")
            threshold = model.cutoff
        return WakeSettings(" ".join(words), engine, float(threshold), model, button)

    def _wake_model(self, spec: str | None) -> MicroModel | None:
        from carvoice.wake.micro import WakeModelError, builtin_models, find_model, load_model

        try:
            if not spec:
                raise WakeModelError(f"the micro engine needs a model: one of {', '.join(builtin_models())} or a .json")
            return load_model(find_model(spec, self.root))
        except WakeModelError as error:
            self.report("wake.model", str(error), spec or "[wake]")
            return None

    def _check_button(self, button: str, state: dict[str, StateSource], dbc: Any) -> None:
        """The push-to-talk button is a [state] value on the bus whose 0 means released."""
        source = state.get(button)
        if source is None or source.signal is None:
            known = ", ".join(sorted(name for name, s in state.items() if s.signal)) or "none"
            self.report("wake.button", f"{button!r} must name a CAN signal under [state] (known: {known})", button)
            return
        signal = dbc.get_message_by_name(source.message).get_signal_by_name(source.signal)
        if signal.choices:
            self.report(
                "wake.button", f"{source.message}.{source.signal} has named values: it must be a number (0 = released)"
            )

    def _audio(self, table: dict[str, Any]) -> AudioSettings:
        return AudioSettings(
            input=self._typed(table, "audio", "input", (str, int), None),
            output=self._typed(table, "audio", "output", (str, int), None),
        )

    def _can(self, table: dict[str, Any]) -> CanSettings | None:
        interface = self._typed(table, "can", "interface", str, "virtual")
        refusal = network_bus_problem(interface)
        if refusal is not None:
            self.report("can.interface", refusal)
        channel = self._typed(table, "can", "channel", (str, int), "carvoice")
        bitrate = self._typed(table, "can", "bitrate", int, None)
        dbc_name = self._typed(table, "can", "dbc", str, None)
        dbc = None
        if dbc_name:
            dbc = (self.root / dbc_name).resolve()
            if not dbc.is_relative_to(self.root.resolve()):
                self.report("can.dbc", f"{dbc_name!r} must be a file inside the profile folder")
                self.broken.add("can.dbc")
                return None
            if not dbc.is_file():
                self.report("can.dbc", f"no such file: {dbc_name}")
                self.broken.add("can.dbc")
                return None
        return CanSettings(interface, str(channel), bitrate, dbc)

    def _serial_ports(self, ports: dict[str, Any]) -> dict[str, SerialPortSettings]:
        result = {}
        for name, table in ports.items():
            key = f"serial.{name}"
            if not isinstance(table, dict):
                self.report(key, "must be a table with url = ... (a device path, loop://, socket://host:port)")
                continue
            self._unknown_keys(key, table, _KEYS["serial_port"])
            url = self._typed(table, key, "url", str, None)
            if not url:
                if "url" in table or not self._misspelt(table, _KEYS["serial_port"], "url"):
                    self.report(key, "needs url = ... (a device path, loop://, socket://host:port)")
                continue
            if not self._safe_serial_url(f"{key}.url", url):
                continue
            result[name] = SerialPortSettings(name, url, self._typed(table, key, "baudrate", int, 9600))
        self.broken |= {f"serial.{name}" for name in ports if name not in result}
        return result

    def _vehicle(self, table: dict[str, Any]) -> dict[str, str | int | float]:
        result = {}
        for name, value in table.items():
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                self.report(f"vehicle.{name}", "vehicle settings are text or numbers")
                continue
            result[name] = value
        return result

    def _recognition(self, table: dict[str, Any]) -> RecognitionSettings:
        defaults = RecognitionSettings()
        confidences = {}
        for key in ("min_confidence", "min_confidence_to_answer"):
            confidence = float(self._typed(table, "recognition", key, (int, float), getattr(defaults, key)))
            if not 0 <= confidence <= 1:
                self.report(f"recognition.{key}", f"must be between 0 and 1, not {confidence}")
                confidence = getattr(defaults, key)
            confidences[key] = confidence
        return RecognitionSettings(
            **confidences,
            listen_seconds=self._positive(table, "recognition", "listen_seconds", defaults.listen_seconds),
            max_command_seconds=self._positive(
                table, "recognition", "max_command_seconds", defaults.max_command_seconds
            ),
            trailing_silence=self._positive(table, "recognition", "trailing_silence", defaults.trailing_silence),
        )

    def _replies(self, table: dict[str, Any]) -> Replies:
        defaults = Replies()
        texts = {name: self._typed(table, "replies", name, str, getattr(defaults, name)) for name in _KEYS["replies"]}
        return Replies(**texts)

    def _pronunciations(self, table: dict[str, Any]) -> dict[str, list[str]]:
        result = {}
        for word, value in table.items():
            key = f"pronunciations.{word}"
            options = [value] if isinstance(value, str) else value
            if not isinstance(options, list) or not options or not all(isinstance(o, str) for o in options):
                self.report(key, 'must be phones like "L AY T B AA R", or a list of them')
                continue
            cleaned = []
            for option in options:
                phones = option.upper().split()
                bad = dictionary.bad_phones(" ".join(phones))
                if bad or not phones:
                    self.report(
                        key,
                        f"unknown phone(s) {', '.join(bad) or '(none given)'}; use CMU ARPAbet phones: "
                        + " ".join(sorted(dictionary.PHONES)),
                        option,
                    )
                    continue
                cleaned.append(" ".join(phones))
            if cleaned:
                result[word.lower()] = cleaned
        return result

    def _template(self, key: str, text: Any, *, allow_slots: bool = True) -> Expr | None:
        if not isinstance(text, str):
            self.report(key, f"a sentence template must be text, not {text!r}")
            return None
        try:
            expr = parse_template(text)
        except TemplateError as error:
            self.report(key, f"{error} (column {error.column + 1} of {text!r})", text)
            return None
        if not allow_slots and _has_slot(expr):
            self.report(key, "slot values cannot contain other slots", text)
            return None
        if isinstance(expr, Sequence) and not expr.items:
            self.report(key, "empty template", text)
            return None
        return expr

    def _rules(self, table: dict[str, Any]) -> dict[str, Rule]:
        rules = {}
        for name, text in table.items():
            key = f"rules.{name}"
            if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
                self.report(key, "rule names are lowercase letters, digits and _")
                continue
            expr = self._template(key, text)
            if expr is not None:
                rules[name] = Rule(expr, Origin(self._file_of(key) or self.root, key, str(text)))
        self.broken |= {f"rules.{name}" for name in table if name not in rules}
        return rules

    def _slots(self, table: dict[str, Any], rules: dict[str, Rule]) -> dict[str, SlotType]:
        slot_types = {}
        for name, definition in table.items():
            key = f"slots.{name}"
            if not isinstance(definition, dict):
                self.report(key, "must be a table with values = [...] and/or range = [low, high]")
                continue
            self._unknown_keys(key, definition, _KEYS["slot"])
            reported = len(self.problems)
            values = self._slot_values(key, definition.get("values")) + self._slot_range(key, definition)
            if not values:
                misspelt = any(self._misspelt(definition, _KEYS["slot"], name) for name in ("values", "range"))
                if len(self.problems) == reported and not misspelt:
                    self.report(key, "a slot needs values = [...] or range = [low, high]")
                continue
            seen = [v.value for v in values]
            duplicates = sorted({str(v) for v in seen if seen.count(v) > 1})
            if duplicates:
                self.report(key, f"value(s) given twice: {', '.join(duplicates)}")
            slot_types[name] = SlotType(name, tuple(values))
        self.broken |= {f"slots.{name}" for name in table if name not in slot_types}
        return slot_types

    def _slot_values(self, key: str, values: Any) -> list[SlotValue]:
        if values is None:
            return []
        if isinstance(values, list):
            if not all(isinstance(v, str) for v in values):
                self.report(f"{key}.values", "a list of values must hold only text")
                return []
            values = {v: v for v in values}
        if not isinstance(values, dict):
            self.report(f"{key}.values", "must be a list of words, or a table of value = [spoken forms]")
            return []
        result = []
        for value, spoken in values.items():
            vkey = f"{key}.values.{value}"
            forms = [spoken] if isinstance(spoken, str) else spoken
            if not isinstance(forms, list) or not forms or not all(isinstance(f, str) for f in forms):
                self.report(vkey, "spoken forms must be text or a list of text")
                continue
            parsed = [self._template(vkey, form, allow_slots=False) for form in forms]
            exprs = [e for e in parsed if e is not None]
            if len(exprs) < len(parsed):
                continue
            spoken_expr = exprs[0] if len(exprs) == 1 else Choice(tuple(exprs))
            result.append(SlotValue(value, spoken_expr))
        return result

    def _slot_range(self, key: str, definition: dict[str, Any]) -> list[SlotValue]:
        """Numbers from low to high by step; a fractional step gives decimals ("twenty one point five")."""
        bounds, step = definition.get("range"), definition.get("step", 1)
        if bounds is None:
            if "step" in definition:
                self.report(f"{key}.step", "a step needs range = [low, high]")
            return []
        low, high = [_decimal(b) for b in bounds] if isinstance(bounds, list) and len(bounds) == 2 else [None, None]
        if low is None or high is None:
            self.report(f"{key}.range", f"must be [low, high], two numbers such as [16, 30], not {bounds!r}")
            return []
        decimal_step = _decimal(step)
        if decimal_step is None or decimal_step <= 0:
            self.report(f"{key}.step", f"must be a number greater than 0, such as 1 or 0.5, not {step!r}")
            return []
        if not 0 <= low <= high < 1_000_000:
            self.report(f"{key}.range", f"needs 0 <= low <= high < 1000000, not {bounds!r}")
            return []
        count = int((high - low) / decimal_step) + 1
        places = max(-int(n.as_tuple().exponent) for n in (low, decimal_step))
        where = f"{key}.step" if "step" in definition else f"{key}.range"
        if count > MAX_RANGE_VALUES:
            self.report(where, f"gives {count:,} values, more than {MAX_RANGE_VALUES:,}: use a larger step")
            return []
        if places > _MAX_DECIMAL_PLACES:
            self.report(where, f"has {places} decimal places, more than {_MAX_DECIMAL_PLACES}")
            return []
        values = []
        for index in range(count):
            number = low + index * decimal_step
            value = int(number) if number == int(number) else float(number)
            forms = [_words_expr(form) for form in spoken_forms(number)]
            values.append(SlotValue(value, forms[0] if len(forms) == 1 else Choice(tuple(forms))))
        return values

    def _sentences(self, intents: dict[str, Any]) -> dict[str, list[Sentence]]:
        result: dict[str, list[Sentence]] = {}
        for name, data in intents.items():
            key = f"intents.{name}"
            if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
                self.report(key, "intent names are lowercase letters, digits and _")
                continue
            if not isinstance(data, dict):
                self.report(key, "must be a table with sentences = [...]")
                continue
            texts = data.get("sentences")
            if not isinstance(texts, list) or not texts:
                if "sentences" in data or not self._misspelt(data, _KEYS["intent"], "sentences"):
                    self.report(f"{key}.sentences", 'an intent needs sentences = ["...", ...]')
                continue
            file = self._file_of(key) or self.root
            sentences = []
            for index, text in enumerate(texts):
                expr = self._template(f"{key}.sentences[{index}]", text)
                if expr is not None:
                    sentences.append(Sentence(expr, Origin(file, f"{key}.sentences[{index}]", str(text))))
            result[name] = sentences
        return result

    def _intent(
        self,
        name: str,
        data: dict[str, Any],
        sentences: list[Sentence],
        rules: dict[str, Rule],
        slot_types: dict[str, SlotType],
        names: set[str],
        serial: dict[str, SerialPortSettings],
    ) -> Intent:
        key = f"intents.{name}"
        self._unknown_keys(key, data, _KEYS["intent"])
        sets: set[frozenset[str]] = set()
        slot_values: dict[str, list[Any]] = {}
        for sentence in sentences:
            sets |= slot_sets(sentence.template, rules)
            for ref in slot_refs(sentence.template, rules):
                values = slot_values.setdefault(ref.name, [])
                slot_type = slot_types.get(ref.type_name)
                values += [v.value for v in slot_type.values if v.value not in values] if slot_type else []
        defaults = self._defaults(key, data.get("defaults", {}), slot_values)
        slot_names = set(slot_values) | set(defaults)
        known = slot_names | names
        replies = self._intent_replies(key, data, known)
        actions = tuple(
            action
            for index, spec in enumerate(self._list_of_tables(f"{key}.actions", data.get("actions", [])))
            if (action := self._action(f"{key}.actions[{index}]", spec, known, serial)) is not None
        )
        examples = data.get("examples", [])
        if not isinstance(examples, list) or not all(isinstance(e, str) for e in examples):
            self.report(f"{key}.examples", "must be a list of sentences")
            examples = []
        return Intent(
            name=name,
            sentences=tuple(s.origin.text for s in sentences),
            actions=actions,
            replies=replies,
            defaults=defaults,
            examples=tuple(examples),
            allow_when=self._condition(f"{key}.allow_when", data.get("allow_when"), known),
            allow_when_text=str(data.get("allow_when", "")),
            refusal=self._text(data, key, "refusal"),
            confirm_when=self._condition(f"{key}.confirm_when", data.get("confirm_when"), known),
            question=self._text(data, key, "question"),
            slot_values={name: tuple(values) for name, values in slot_values.items()},
            slot_sets=tuple(sorted(sets, key=sorted)),
        )

    def _defaults(self, key: str, table: Any, slot_values: dict[str, list[Any]]) -> dict[str, Any]:
        """Slot values a sentence implies without saying them ("roll up the windows": all)."""
        if not isinstance(table, dict):
            self.report(f"{key}.defaults", "must be a table of slot = value")
            return {}
        result = {}
        for slot, value in table.items():
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                self.report(f"{key}.defaults.{slot}", "a default is a slot value (text or a number)")
                continue
            if isinstance(value, float) and value.is_integer():
                value = int(value)  # as a range slot holds it
            if slot in slot_values and value not in slot_values[slot]:
                self.report(f"{key}.defaults.{slot}", f"{value!r} is not a value of slot {{{slot}}}")
                continue
            result[slot] = value
            slot_values.setdefault(slot, [])
            if value not in slot_values[slot]:
                slot_values[slot].append(value)
        return result

    def _list_of_tables(self, key: str, value: Any) -> list[dict[str, Any]]:
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.report(key, f"write each one as a [[{key}]] table")
            return []
        return value

    def _condition(self, key: str, text: Any, known: set[str]) -> Condition | None:
        if text is None:
            return None
        if not isinstance(text, str):
            self.report(key, f'a condition is text such as "window is driver", not {text!r}')
            return None
        try:
            condition = parse_condition(text)
        except ConditionError as error:
            self.report(key, f"{error} (column {error.column + 1} of {text!r})", text)
            return None
        unknown = sorted(names(condition) - known)
        if unknown:
            self.report(key, f"unknown name {unknown[0]} {known_names(unknown[0], known)}", text)
            return None
        return condition

    def _text(self, data: dict[str, Any], key: str, name: str) -> str:
        text = data.get(name, "")
        if not isinstance(text, str):
            self.report(f"{key}.{name}", "must be text")
            return ""
        self._check_placeholders(f"{key}.{name}", text, set())
        return text

    def _check_placeholders(self, key: str, text: str, known: set[str]) -> bool:
        """Placeholders must be well formed, and name something known (when `known` is given)."""
        try:
            placeholders.check(text)
        except placeholders.PlaceholderError as error:
            self.report(key, str(error), text)
            return False
        unknown = [n for n in placeholders.names_in(text) if known and n not in known]
        if unknown:
            choices = known_names(unknown[0], known - {REPLY_EXAMPLES})
            self.report(key, f"{{{unknown[0]}}} is not a slot, setting or state value here {choices}", text)
            return False
        return True

    def _intent_replies(self, key: str, data: dict[str, Any], known: set[str]) -> tuple[Reply, ...]:
        if "reply" in data and "replies" in data:
            self.report(key, 'give either reply = "..." or [[...replies]] tables, not both')
        specs: list[dict[str, Any]]
        if "reply" in data:
            specs = [{"text": data["reply"]}]
        else:
            specs = self._list_of_tables(f"{key}.replies", data.get("replies", []))
        replies = []
        for index, spec in enumerate(specs):
            rkey = f"{key}.replies[{index}]" if "replies" in data else f"{key}.reply"
            self._unknown_keys(rkey, spec, _KEYS["reply"])
            text = spec.get("text")
            if not isinstance(text, str):
                if "text" in spec or not self._misspelt(spec, _KEYS["reply"], "text"):
                    self.report(rkey, 'a reply needs text = "..."')
                continue
            text_key = f"{rkey}.text" if "replies" in data else rkey
            if self._check_placeholders(text_key, text, known | {REPLY_EXAMPLES}):
                replies.append(Reply(text, self._condition(f"{rkey}.when", spec.get("when"), known)))
        return tuple(replies)

    def _action(
        self, key: str, spec: dict[str, Any], known: set[str], serial: dict[str, SerialPortSettings]
    ) -> Action | None:
        when = self._condition(f"{key}.when", spec.get("when"), known)
        kinds = [k for k in ("can", "frame", "serial") if k in spec]
        if len(kinds) != 1:
            any_action = _KEYS["can_action"] | _KEYS["frame_action"] | _KEYS["serial_action"]
            if not kinds and any(self._misspelt(spec, any_action, kind) for kind in ("can", "frame", "serial")):
                self._unknown_keys(key, spec, any_action)
            else:
                kinds_text = 'can = "MESSAGE" (with signals), frame = "ID#DATA", serial = "port"'
                self.report(key, f"an action is one of: {kinds_text}")
            return None
        kind = kinds[0]
        if kind == "can":
            self._unknown_keys(key, spec, _KEYS["can_action"])
            signals = spec.get("signals", {})
            if not isinstance(spec["can"], str) or not isinstance(signals, dict) or not signals:
                if "signals" in spec or not self._misspelt(spec, _KEYS["can_action"], "signals"):
                    self.report(key, 'write can = "MESSAGE_NAME" and signals = { Signal = value, ... }')
                return None
            for signal, value in signals.items():
                if isinstance(value, bool) or not isinstance(value, str | int | float):
                    self.report(f"{key}.signals.{signal}", 'a signal value is a number, a value name or "{slot}"')
                    return None
                if isinstance(value, str) and not self._check_placeholders(f"{key}.signals.{signal}", value, known):
                    return None
            clamp = spec.get("clamp")
            if clamp is not None and not (
                isinstance(clamp, list)
                and len(clamp) == 2
                and all(isinstance(c, int | float) for c in clamp)
                and clamp[0] <= clamp[1]
            ):
                self.report(f"{key}.clamp", "must be [lowest, highest]")
                return None
            return CanAction(spec["can"], dict(signals), when, key, tuple(clamp) if clamp else None)
        if kind == "frame":
            self._unknown_keys(key, spec, _KEYS["frame_action"])
            frame = parse_frame_text(str(spec["frame"]))
            if frame is None:
                self.report(
                    f"{key}.frame",
                    f"{spec['frame']!r} is not a frame like 123#0102 (3 or 8 hex digits, # and up to 8 bytes)",
                )
                return None
            ident, _, extended = frame
            if diagnostic_id(ident, extended):
                text = str(spec["frame"])
                self.report(f"{key}.frame", _DIAGNOSTIC.format(ident=text.partition("#")[0]), text)
                return None
            return RawFrameAction(*frame, when, key)
        self._unknown_keys(key, spec, _KEYS["serial_action"])
        port, write = spec["serial"], spec.get("write")
        if port not in serial:
            if f"serial.{port}" not in self.broken:
                defined = known_names(str(port), serial, "defined")
                self.report(f"{key}.serial", f"no serial port {port!r} {defined}: add [serial.{port}]")
            return None
        if not isinstance(write, str) or not write:
            if "write" in spec or not self._misspelt(spec, _KEYS["serial_action"], "write"):
                self.report(key, 'a serial action needs write = "..." (the bytes to send)')
            return None
        if not self._check_placeholders(f"{key}.write", write, known):
            return None
        expect = spec.get("expect")
        timeout = spec.get("timeout", 1.0)
        if expect is not None and not isinstance(expect, str):
            self.report(f"{key}.expect", "must be text")
            return None
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            self.report(f"{key}.timeout", "must be a number of seconds greater than 0")
            return None
        return SerialAction(port, write, expect, float(timeout), when, key)

    def _safe_serial_url(self, key: str, url: str) -> bool:
        """A profile may come from anyone: no pyserial URL that writes files (spy://) or is not a port."""
        scheme = url.split("://", 1)[0] if "://" in url else None
        if scheme is not None and scheme not in SERIAL_URL_SCHEMES:
            allowed = ", ".join(f"{s}://" for s in SERIAL_URL_SCHEMES)
            self.report(key, f"{scheme}:// is not allowed in a profile (a device path, or {allowed})", url)
            return False
        if scheme == "relayboard":
            try:
                relayboard.protocol(url)
            except ValueError as error:
                self.report(key, str(error))
                return False
        return True

    def _obd(self, table: Any) -> ObdSettings | None:
        if table is None:
            return None
        self._unknown_keys("obd", table, _KEYS["obd"])
        defaults = ObdSettings()
        source = self._typed(table, "obd", "source", str, defaults.source)
        if source != "can" and not self._safe_serial_url("obd.source", source):
            source = defaults.source
        return ObdSettings(
            source=source,
            poll_seconds=self._positive(table, "obd", "poll_seconds", defaults.poll_seconds),
            baudrate=self._typed(table, "obd", "baudrate", int, defaults.baudrate),
        )

    def _state(self, table: dict[str, Any], dbc: Any, obd: ObdSettings | None) -> dict[str, StateSource]:
        """Named vehicle values: `signal = "MESSAGE.Signal"` from the bus, or `obd = "0D"` by polling."""
        sources = {}
        for name, spec in table.items():
            key = f"state.{name}"
            if not isinstance(spec, dict):
                self.report(key, 'must be a table with signal = "MESSAGE.Signal" or obd = "PID"')
                continue
            self._unknown_keys(key, spec, _KEYS["state_source"])
            max_age = spec.get("max_age")
            if max_age is not None and (
                isinstance(max_age, bool) or not isinstance(max_age, int | float) or max_age <= 0
            ):
                self.report(f"{key}.max_age", "must be a number of seconds greater than 0")
                continue
            if ("signal" in spec) == ("obd" in spec):
                misspelt = any(self._misspelt(spec, _KEYS["state_source"], name) for name in ("signal", "obd"))
                if "signal" in spec or not misspelt:
                    self.report(key, 'give exactly one of signal = "MESSAGE.Signal" or obd = "PID"')
                continue
            if "obd" in spec:
                pid = str(spec["obd"])
                if not re.fullmatch(r"[0-9A-Fa-f]{2}", pid):
                    self.report(f"{key}.obd", f"{pid!r} is not a mode 01 PID such as 0D", pid)
                    continue
                if int(pid, 16) not in PIDS:
                    known = ", ".join(f"{p:02X} {PIDS[p].name}" for p in sorted(PIDS))
                    self.report(f"{key}.obd", f"carvoice does not know PID {pid} (it knows {known})", pid)
                    continue
                if obd is None:
                    self.report(f"{key}.obd", 'OBD-II values need an [obd] section (source = "can" or a serial URL)')
                    continue
                sources[name] = StateSource(name, float(max_age or 3 * obd.poll_seconds), obd_pid=int(pid, 16))
                continue
            message, signal = self._state_signal(key, spec["signal"], dbc)
            if message is None or signal is None:
                continue
            cycle = (message.cycle_time or 0) / 1000
            if max_age is None and not cycle:
                self.report(f"{key}.signal", f"{message.name} has no cycle time in the DBC: give max_age")
                continue
            checks = self._sequence_signals(key, spec, message)
            if checks is not None:
                sources[name] = StateSource(name, float(max_age or 3 * cycle), message.name, signal.name, None, *checks)
        self._check_one_sequence_per_message(sources)
        self.broken |= {f"state.{name}" for name in table if name not in sources}
        return sources

    def _check_one_sequence_per_message(self, sources: dict[str, StateSource]) -> None:
        """A message has one counter and one checksum, whichever value names them, and neither is a value
        the profile reads (a speed taken for the counter would make the car's every frame a fault)."""
        by_message: dict[str, list[StateSource]] = {}
        for source in sources.values():
            if source.message is not None:
                by_message.setdefault(source.message, []).append(source)
        for message, group in by_message.items():
            read = {s.signal: s.name for s in group}
            for field in ("counter", "checksum"):
                first: StateSource | None = None
                for source in group:
                    named = getattr(source, field)
                    if named is None:
                        continue
                    key = f"state.{source.name}.{field}"
                    if named in read:
                        self.report(key, f"{named} is the value {read[named]}, not the {field} of {message}", named)
                    elif first is None:
                        first = source
                    elif getattr(first, field) != named:
                        one = f"{getattr(first, field)} (state.{first.name}.{field})"
                        self.report(key, f"{message} has one {field}: {one}, not {named}", named)

    def _state_signal(self, key: str, text: Any, dbc: Any) -> tuple[Any, Any]:
        """The DBC message and signal `MESSAGE.Signal` names, or (None, None) once reported."""
        if dbc is None:
            if "can.dbc" not in self.broken:  # a DBC that does not load is one problem, not one per value
                self.report(f"{key}.signal", 'bus signals need a DBC file (dbc = "..." under [can])')
            return None, None
        message_name, dot, signal_name = str(text).partition(".")
        if not dot or not isinstance(text, str):
            self.report(f"{key}.signal", f"{text!r}: write MESSAGE.Signal, e.g. {_example_signal(dbc)}")
            return None, None
        try:
            message = dbc.get_message_by_name(message_name)
        except KeyError:
            names = [m.name for m in dbc.messages]
            self.report(
                f"{key}.signal", f"the DBC has no message {message_name} {known_names(message_name, names, 'messages')}"
            )
            return None, None
        try:
            return message, message.get_signal_by_name(signal_name)
        except KeyError:
            names = [s.name for s in message.signals]
            where = f"{message_name} has no signal {signal_name}"
            self.report(f"{key}.signal", f"{where} {known_names(signal_name, names, 'its signals')}")
            return None, None

    def _sequence_signals(self, key: str, spec: dict[str, Any], message: Any) -> tuple[Any, Any, Any] | None:
        """counter, checksum and checksum_type of a state value: signals of its own message, or None if wrong."""
        counter, checksum = spec.get("counter"), spec.get("checksum")
        checksum_type = spec.get("checksum_type")
        names = {s.name for s in message.signals}
        for field, value in (("counter", counter), ("checksum", checksum)):
            if value is not None and value not in names:
                known = known_names(str(value), names, "its signals")
                self.report(f"{key}.{field}", f"{message.name} has no signal {value!r} {known}", str(value))
                return None
        if counter is not None and message.get_signal_by_name(counter).is_signed:
            self.report(f"{key}.counter", f"{counter} is signed; a rolling counter counts up from 0", counter)
            return None
        if (checksum is None) != (checksum_type is None):
            given = "checksum" if checksum_type is None else "checksum_type"
            self.report(f"{key}.{given}", f"give checksum and checksum_type ({' or '.join(CHECKSUM_TYPES)}) together")
            return None
        if checksum_type is not None and checksum_type not in CHECKSUM_TYPES:
            self.report(f"{key}.checksum_type", f"{checksum_type!r} is not one of {', '.join(CHECKSUM_TYPES)}")
            return None
        if checksum is not None and checksum_byte(message, checksum) is None:
            self.report(f"{key}.checksum", f"{checksum} must fill exactly one whole byte of {message.name}", checksum)
            return None
        return counter, checksum, checksum_type

    def _check_diagnostic_messages(self, intents: dict[str, Intent], dbc: Any) -> None:
        """A command may not send a DBC message that sits on a diagnostic identifier either."""
        for intent in intents.values():
            for action in intent.actions:
                if not isinstance(action, CanAction):
                    continue
                try:
                    message = dbc.get_message_by_name(action.message)
                except KeyError:
                    continue  # reported when the actions are planned
                if diagnostic_id(message.frame_id, message.is_extended_frame):
                    ident = f"{message.frame_id:0{8 if message.is_extended_frame else 3}X}"
                    self.report(f"{action.key}.can", _DIAGNOSTIC.format(ident=ident), action.message)

    def _dbc(self, can: CanSettings | None) -> Any:
        if can is None or can.dbc is None:
            return None
        import cantools

        try:
            return cantools.database.load_file(str(can.dbc), database_format="dbc")
        except Exception as error:  # cantools raises many kinds; all mean "not a usable DBC"
            # The mistake is in the DBC: point at its line, not at the dbc = "..." that names it.
            text = re.sub(r"^DBC: ", "", str(error)).strip('"')
            match = re.search(r"at line (\d+)", text)
            line = int(match.group(1)) if match else None
            self.problems.append(Problem(can.dbc, line, "can.dbc", f"does not load as a DBC: {text}"))
            self.broken.add("can.dbc")
            return None

    def _check_dictionary(
        self,
        wake: WakeSettings,
        pronunciations: dict[str, list[str]],
        sentences: dict[str, list[Sentence]],
        rules: dict[str, Rule],
        slot_types: dict[str, SlotType],
    ) -> None:
        """Every word written anywhere must be one the recogniser can hear."""
        places: list[tuple[str, str, list[str]]] = [("wake.phrase", wake.phrase, wake.phrase.split())]
        for intent_sentences in sentences.values():
            places += [(s.origin.key, s.origin.text, template_words(s.template)) for s in intent_sentences]
        places += [(r.origin.key, r.origin.text, template_words(r.expr)) for r in rules.values()]
        for slot in slot_types.values():
            for value in slot.values:
                places.append((f"slots.{slot.name}.values.{value.value}", "", template_words(value.spoken)))
        words = {word for _, _, place_words in places for word in place_words}
        known = set(dictionary.lookup(words - set(pronunciations))) | set(pronunciations)
        for word in sorted(words - known):
            key, text = next(((k, t) for k, t, ws in places if word in ws), ("", ""))
            self.report(
                key,
                f"the recogniser's dictionary has no word {word!r}: add it under [pronunciations] "
                f'({word} = "PHONES") or use another word',
                text,
                word,
            )

    def _check_behaviour(self, profile: Profile) -> None:
        for intent in profile.intents.values():
            for example in intent.examples:
                readings = profile.readings(example.lower().split())
                if [name for name, _ in readings] != [intent.name]:
                    got = " or ".join(f"{name} ({_describe(slots)})" for name, slots in readings) or "nothing"
                    self.report(f"intents.{intent.name}.examples", f"{example!r} is understood as {got}", example)
            reported: set[str] = set()
            for slots in slot_combinations(profile, intent):
                try:
                    for state in extreme_states(profile):
                        plan_actions(profile, intent, slots, state)
                except (PlanError, UnknownValue) as error:
                    if error.key not in reported:
                        reported.add(error.key)
                        when = f" (when {_describe(slots)})" if slots else ""
                        self.report(error.key or f"intents.{intent.name}", f"{error}{when}")


def _wake_tails(wake: WakeSettings | None, pronunciations: dict[str, list[str]]) -> Expr | None:
    """Whatever may be left of the wake phrase when a command starts.

    The spotter can fire before the phrase has ended (by half a second for slow
    speakers), so a command may begin with "copilot", "hey copilot" or only the end
    of the last word ("...pilot"). The word endings are pseudo-words marked with
    LEAD_IN_MARK whose pronunciations (the last phones of the word) are added to
    `pronunciations`; the recogniser drops them from what it heard.
    """
    if wake is None:
        return None
    words = wake.phrase.split()
    tails: list[Expr] = [Sequence(tuple(Word(w) for w in words[i:])) for i in range(len(words))]
    last = words[-1]
    phones = (pronunciations.get(last) or dictionary.lookup([last]).get(last) or [""])[0].split()
    for start in range(1, len(phones)):
        ending = f"{last}{LEAD_IN_MARK}{start}"
        pronunciations[ending] = [" ".join(phones[start:])]
        tails.append(Word(ending))
    return Choice(tuple(tails))


def _decimal(number: Any) -> Decimal | None:
    """A TOML number as written (0.1 stays 0.1, not 0.1000000000000000055), or None if it is not one."""
    if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
        return None
    return Decimal(str(number))


def _example_signal(dbc: Any) -> str:
    for message in dbc.messages:
        for signal in message.signals:
            return f'"{message.name}.{signal.name}"'
    return '"MESSAGE.Signal"'


def _too_deep_line(text: str, depth: int = 100) -> int:
    """The line where [ and { (outside strings and comments) first nest `depth` deep; the last line if never."""
    level, quote, line = 0, "", 1
    for index, char in enumerate(text):
        if char == "\n":
            line += 1
            if quote in ("#", '"', "'"):
                quote = ""
        elif quote:
            if char == quote and text[index - 1] != "\\":
                quote = ""
        elif char in "\"'#":
            quote = char
        elif char in "[{":
            level += 1
            if level >= depth:
                return line
        elif char in "]}":
            level -= 1
    return line


def _describe(slots: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(slots.items())) or "no slots"


def _words_expr(text: str) -> Expr:
    words = tuple(Word(w) for w in text.split())
    return words[0] if len(words) == 1 else Sequence(words)


def _has_slot(expr: Expr) -> bool:
    if isinstance(expr, SlotRef):
        return True
    return any(_has_slot(e) for e in getattr(expr, "items", getattr(expr, "options", ())))
