"""The profile's settings: wake phrase, audio, CAN bus and DBC, serial ports, OBD-II, [state], recognition, replies."""

from __future__ import annotations

import re
from typing import Any, cast

from carvoice.errors import CarvoiceError
from carvoice.profile import dictionary
from carvoice.profile.model import (
    ACCENTS,
    BUTTON_FEEDS,
    BUTTON_LINES,
    CHECKSUM_TYPES,
    KEYPHRASE_THRESHOLD,
    POCKETSPHINX,
    WAKE_ENGINES,
    Accent,
    AudioSettings,
    CanSettings,
    Intent,
    ObdSettings,
    Problem,
    RecognitionSettings,
    Replies,
    SerialAction,
    SerialButton,
    SerialPortSettings,
    StateSource,
    WakeSettings,
)
from carvoice.profile.schema import KEYS
from carvoice.profile.security import Security
from carvoice.profile.sources import MAIN_FILE
from carvoice.profile.suggest import known_names

# Other names of a modem status line on adapters' pinouts.
LINE_ALIASES = {"DCD": "CD"}
BUTTON_FORMS = 'write a [state] value\'s name, or { serial = "PORT", line = "CTS" } for a switch on a serial port'


class Settings(Security):
    """Reads every table but the intents and their grammar."""

    def _wake(self, table: dict[str, Any]) -> WakeSettings | None:
        phrase = self._typed(table, "wake", "phrase", str, None)
        if not phrase:
            if phrase is None and not self._misspelt(table, KEYS["wake"], "phrase") and "phrase" not in table:
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
        button = self._button(table.get("button"))
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

    def _wake_model(self, spec: str | None) -> Any:
        try:
            return self.stages.wake_model(spec, self.root)
        except CarvoiceError as error:
            self.report("wake.model", str(error), spec or "[wake]")
            return None

    def _button(self, spec: Any) -> str | SerialButton | None:
        """`button = "NAME"` (a [state] value) or `button = { serial = "NAME", line = "CTS" }`."""
        if spec is None or isinstance(spec, str):
            return spec
        if not isinstance(spec, dict):
            self.report("wake.button", f"{BUTTON_FORMS}, not {spec!r}")
            return None
        allowed = KEYS["serial_button"]
        self._unknown_keys("wake.button", spec, allowed)
        port = self._typed(spec, "wake.button", "serial", str, None)
        line = self._typed(spec, "wake.button", "line", str, None)
        inputs = ", ".join(BUTTON_LINES)
        if port is None or line is None:
            missing = [
                name for name in ("serial", "line") if name not in spec and not self._misspelt(spec, allowed, name)
            ]
            if missing:
                example = '{ serial = "PORT", line = "CTS" }'
                needs = " and ".join(missing)
                self.report("wake.button", f"a serial button needs {needs}, as in {example} (line: one of {inputs})")
            return None
        line = LINE_ALIASES.get(line.upper(), line.upper())
        if line not in BUTTON_LINES:
            output = " is an output (the agent asserts it to feed the switch)" if line in BUTTON_FEEDS else ""
            self.report("wake.button.line", f"{spec['line']!r}{output}: the switch's input is one of {inputs}")
            return None
        feed = self._typed(spec, "wake.button", "feed", str, BUTTON_LINES[line]).upper()
        if feed not in BUTTON_FEEDS:
            feeds = " or ".join(BUTTON_FEEDS)
            self.report("wake.button.feed", f"{spec.get('feed')!r}: the output that feeds the switch is {feeds}")
            return None
        return SerialButton(port, line, feed)

    def _check_button(
        self,
        button: str | SerialButton,
        state: dict[str, StateSource],
        dbc: Any,
        serial: dict[str, SerialPortSettings],
        intents: dict[str, Intent],
    ) -> None:
        """A [state] button is a bus value whose 0 means released; a serial button has a port of its own."""
        if isinstance(button, SerialButton):
            self._check_serial_button(button, serial, intents)
            return
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

    def _check_serial_button(
        self, button: SerialButton, serial: dict[str, SerialPortSettings], intents: dict[str, Intent]
    ) -> None:
        if not self._port_defined("wake.button.serial", button.port, serial):
            return
        writers = sorted(
            name
            for name, intent in intents.items()
            if any(isinstance(a, SerialAction) and a.port == button.port for a in intent.actions)
        )
        if writers:
            self.report(
                "wake.button.serial",
                f"serial.{button.port} is written by intents.{', intents.'.join(writers)}: the button needs a port"
                " of its own (the agent holds its feed asserted and reads its lines all the time)",
            )

    def _audio(self, table: dict[str, Any]) -> AudioSettings:
        return AudioSettings(
            input=self._typed(table, "audio", "input", (str, int), None),
            output=self._typed(table, "audio", "output", (str, int), None),
        )

    def _can(self, table: dict[str, Any]) -> CanSettings | None:
        interface = self._typed(table, "can", "interface", str, "virtual")
        refusal = self.stages.bus_problem(interface)
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
            self._unknown_keys(key, table, KEYS["serial_port"])
            url = self._typed(table, key, "url", str, None)
            if not url:
                if "url" in table or not self._misspelt(table, KEYS["serial_port"], "url"):
                    self.report(key, "needs url = ... (a device path, loop://, socket://host:port)")
                continue
            if not self._safe_serial_url(f"{key}.url", url):
                continue
            result[name] = SerialPortSettings(name, url, self._typed(table, key, "baudrate", int, 9600))
        self.broken |= {f"serial.{name}" for name in ports if name not in result}
        return result

    def _port_defined(self, key: str, port: Any, serial: dict[str, SerialPortSettings]) -> bool:
        """Whether `port` names a [serial.NAME] port; one that does not is reported (once: not if it is broken)."""
        if not isinstance(port, str):
            self.report(key, f"must name a [serial.NAME] port, not {port!r}")
            return False
        if port in serial:
            return True
        if f"serial.{port}" not in self.broken:
            self.report(
                key, f"no serial port {port!r} {known_names(str(port), serial, 'defined')}: add [serial.{port}]"
            )
        return False

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
        confidences = {
            key: self._confidence(table, "recognition", key, float(getattr(defaults, key)))
            for key in ("min_confidence", "min_confidence_to_answer")
        }
        confidences["confirm_below"] = self._confirm_bar(table, "recognition", defaults.confirm_below)
        trailing = self._positive(table, "recognition", "trailing_silence", defaults.trailing_silence)
        # Unset, it is never shorter than the trailing silence; set shorter, it is a mistake to name.
        unset = max(trailing, defaults.unfinished_silence)
        unfinished = self._positive(table, "recognition", "unfinished_silence", unset)
        if unfinished < trailing:
            self.report(
                "recognition.unfinished_silence",
                f"must be at least trailing_silence ({trailing:g} s): it is the longer wait, not {unfinished:g}",
            )
            unfinished = trailing
        return RecognitionSettings(
            **confidences,
            listen_seconds=self._positive(table, "recognition", "listen_seconds", defaults.listen_seconds),
            max_command_seconds=self._positive(
                table, "recognition", "max_command_seconds", defaults.max_command_seconds
            ),
            trailing_silence=trailing,
            unfinished_silence=unfinished,
            accent=self._accent(table, defaults.accent),
        )

    def _accent(self, table: dict[str, Any], default: Accent) -> Accent:
        accent = self._typed(table, "recognition", "accent", str, default)
        if accent not in ACCENTS:
            self.report("recognition.accent", f"{accent!r}: one of {', '.join(ACCENTS)}", accent)
            return default
        return cast(Accent, accent)

    def _replies(self, table: dict[str, Any]) -> Replies:
        defaults = Replies()
        texts = {name: self._typed(table, "replies", name, str, getattr(defaults, name)) for name in KEYS["replies"]}
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

    def _obd(self, table: Any) -> ObdSettings | None:
        if table is None:
            return None
        self._unknown_keys("obd", table, KEYS["obd"])
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
            self._unknown_keys(key, spec, KEYS["state_source"])
            max_age = spec.get("max_age")
            if max_age is not None and (
                isinstance(max_age, bool) or not isinstance(max_age, int | float) or max_age <= 0
            ):
                self.report(f"{key}.max_age", "must be a number of seconds greater than 0")
                continue
            if ("signal" in spec) == ("obd" in spec):
                misspelt = any(self._misspelt(spec, KEYS["state_source"], name) for name in ("signal", "obd"))
                if "signal" in spec or not misspelt:
                    self.report(key, 'give exactly one of signal = "MESSAGE.Signal" or obd = "PID"')
                continue
            if "obd" in spec:
                pid = str(spec["obd"])
                if not re.fullmatch(r"[0-9A-Fa-f]{2}", pid):
                    self.report(f"{key}.obd", f"{pid!r} is not a mode 01 PID such as 0D", pid)
                    continue
                if int(pid, 16) not in self.stages.obd_pids:
                    known = ", ".join(f"{p:02X} {name}" for p, name in sorted(self.stages.obd_pids.items()))
                    self.report(f"{key}.obd", f"carvoice does not know PID {pid} (it knows {known})", pid)
                    continue
                if obd is None:
                    self.report(f"{key}.obd", 'OBD-II values need an [obd] section (source = "can" or a serial URL)')
                    continue
                number = int(pid, 16)
                max_age = float(max_age or 3 * obd.poll_seconds)
                sources[name] = StateSource(name, max_age, obd_pid=number, limits=self.stages.obd_limits[number])
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
            if value is not None and not isinstance(value, str):
                self.report(f"{key}.{field}", f"must name a signal of {message.name}, not {value!r}")
                return None
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
        if checksum is not None and self.stages.checksum_byte(message, checksum) is None:
            self.report(f"{key}.checksum", f"{checksum} must fill exactly one whole byte of {message.name}", checksum)
            return None
        return counter, checksum, checksum_type

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


def _example_signal(dbc: Any) -> str:
    for message in dbc.messages:
        for signal in message.signals:
            return f'"{message.name}.{signal.name}"'
    return '"MESSAGE.Signal"'
