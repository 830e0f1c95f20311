"""Reads a profile folder of TOML files into a `Profile`, or lists everything wrong with it.

Installers are not programmers: every problem is collected (not just the first)
and located by file, line and key, and unknown keys are reported because a
typo in a key would otherwise be silently ignored.

The reading is split by concern, each part a class building on the one before:
sources (files, lines) -> schema (keys, types) -> security -> settings -> vocabulary
(templates, slots) -> intents -> this loader. What a check needs from the stages above the
profile (the planner, the vehicle, the wake models) comes in as `Stages`: carvoice.check
passes the real ones, so that this package imports none of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from carvoice.intent import (
    Rule,
    Sentence,
    SlotType,
)
from carvoice.intent.template import Choice, Expr, Sequence, Word, template_words
from carvoice.profile import dictionary
from carvoice.profile.intents import Intents
from carvoice.profile.model import (
    LEAD_IN_MARK,
    Profile,
    ProfileError,
    WakeSettings,
)
from carvoice.profile.sources import MAIN_FILE, default_profile_dir, files_digest, profile_digest
from carvoice.profile.stages import Stages

__all__ = ["MAIN_FILE", "Stages", "default_profile_dir", "files_digest", "profile_digest", "read_profile"]


def read_profile(root: Path | str, stages: Stages) -> Profile:
    """Load and fully check a profile with the checks `stages` brings; raises ProfileError listing every problem.

    carvoice.check.load_profile is this with every stage's checks.
    """
    return _Loader(Path(root), stages).load()


class _Loader(Intents):
    def load(self) -> Profile:
        data = self._read_files()
        if data is None:
            raise ProfileError(self.problems)
        profile = self._build(data)
        if self.problems or profile is None:
            raise ProfileError(self.problems)
        return profile

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
        intents = {
            name: self._intent(name, intent_data, sentences.get(name, []), rules, slot_types, names, serial)
            for name, intent_data in intents_data.items()
            if isinstance(intent_data, dict)
        }
        if wake is not None and wake.button is not None:
            self._check_button(wake.button, state, dbc, serial, intents)
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
            for slots in self.stages.slot_combinations(profile, intent):
                for key, message in self.stages.plan_problems(profile, intent, slots):
                    if key not in reported:
                        reported.add(key)
                        when = f" (when {_describe(slots)})" if slots else ""
                        self.report(key or f"intents.{intent.name}", f"{message}{when}")


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


def _describe(slots: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(slots.items())) or "no slots"
