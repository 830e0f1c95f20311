"""Properties of the profile loader, the condition language and placeholders on hostile input.

A profile comes from an installer's editor, a half-written disk or an untrusted bundle:
whatever is in it, loading gives a Profile or a ProfileError whose every problem says
where it is, and nothing else escapes.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carvoice.check import load_profile
from carvoice.errors import UnknownValue
from carvoice.profile import dictionary, placeholders
from carvoice.profile.conditions import ConditionError, parse_condition
from carvoice.profile.loader import default_profile_dir
from carvoice.profile.model import Profile, ProfileError

DEMO = default_profile_dir()
CONDITION_TOKENS = ("is", "not", "in", "and", "or", "known", "unknown", "(", ")", "[", "]", ",", "<", "<=", "==", "!=")
CONDITION_TOKENS += (">", ">=", "=", "speed", "gear", "P", "3", "-1.5", "'x'", '"', "'", "é", "!", "1e5", "_a.b")

# Values a lookup may hand a condition or a placeholder: what slots, settings and state hold.
values = st.one_of(
    st.none(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["P", "D", "on", "off", "driver", "all"]),
)
lookups = st.dictionaries(st.sampled_from(["speed", "gear", "x", "state", "window", "a_b"]), values)


# -- conditions ------------------------------------------------------------------------------


@given(st.lists(st.sampled_from(CONDITION_TOKENS), max_size=12).map(" ".join) | st.text(max_size=30))
def test_any_text_is_a_condition_or_a_condition_error_at_a_column_of_it(text: str) -> None:
    try:
        parse_condition(text)
    except ConditionError as error:
        assert 0 <= error.column <= len(text)


names = st.sampled_from(["speed", "gear", "x", "state", "window", "a_b"])
literals = st.one_of(
    st.integers(-1000, 1000).map(str),
    st.floats(-1000, 1000, allow_nan=False).map(lambda f: f"{f:.2f}"),
    st.sampled_from(["P", "on", "'two words'", '"x"']),
)
comparisons = st.one_of(
    st.builds("{} {} {}".format, names, st.sampled_from(["is", "is not", "==", "!=", "<", "<=", ">", ">="]), literals),
    st.builds(
        "{} {} [{}]".format, names, st.sampled_from(["in", "not in"]), st.lists(literals, min_size=1).map(", ".join)
    ),
    st.builds("{} is {}".format, names, st.sampled_from(["known", "unknown", "not known", "not unknown"])),
)
conditions = st.recursive(
    comparisons,
    lambda inner: st.one_of(
        st.builds("{} and {}".format, inner, inner),
        st.builds("{} or {}".format, inner, inner),
        st.builds("not {}".format, inner),
        st.builds("({})".format, inner),
    ),
    max_leaves=6,
)


@given(conditions, lookups)
def test_a_condition_is_true_false_or_unknown_whatever_the_values(text: str, known: dict[str, Any]) -> None:
    condition = parse_condition(text)
    try:
        result = condition.evaluate(known.get)
    except UnknownValue as unknown:
        assert known.get(unknown.name) is None
    else:
        assert isinstance(result, bool)


# -- placeholders ----------------------------------------------------------------------------

PLACEHOLDER_PIECES = ("{", "}", "x", "speed", " + ", " - ", "1", "2.5", ":", ".1f", ".0f", "d", ">", "99999999", "%")
PLACEHOLDER_PIECES += ("s", "_", "A", "é", ",", "{speed:.1f}", "{x + 1}", "{x:", "{{x}}", "z", " ")


@given(st.lists(st.sampled_from(PLACEHOLDER_PIECES), max_size=12).map("".join) | st.text(max_size=30), lookups)
def test_text_that_passes_the_check_always_fills_or_names_what_is_missing(text: str, known: dict[str, Any]) -> None:
    try:
        placeholders.check(text)
    except placeholders.PlaceholderError as error:
        assert 0 <= error.column < len(text)
        return
    for use in (placeholders.fill, placeholders.value_of):
        try:
            filled = use(text, known.get)
        except UnknownValue as missing:
            name = missing.name.split(" ", 1)[0]
            assert name in placeholders.names_in(text)
        else:
            assert use is placeholders.value_of or isinstance(filled, str)


# -- the profile loader ----------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def small_dictionary() -> Iterator[None]:
    """Only the demo's words of CMUdict: a profile then loads in milliseconds instead of a second.

    The properties are about what the loader does with bad input, not about the dictionary;
    a word outside this one is reported as unknown, which is one more located problem.
    """
    profile = load_profile(DEMO)
    words = set(profile.dictionary_words) | {"hey", "copilot", "please", "window"}
    found = dictionary.lookup(words)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "small.dict"
        path.write_text(
            "".join(f"{word} {phones}\n" for word, options in sorted(found.items()) for phones in options),
            encoding="utf-8",
        )
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(dictionary, "cmudict_path", lambda: path)
            yield


def outcome(root: Path) -> Profile | ProfileError:
    """Loading gives a profile or a ProfileError that locates every problem; anything else fails the test."""
    try:
        return load_profile(root)
    except ProfileError as error:
        assert error.problems
        for problem in error.problems:
            assert problem.file is not None, problem
            if problem.file.is_file():
                assert problem.line or problem.key, problem
        return error


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def to_toml(data: dict[str, Any]) -> str:
    """Every leaf as one dotted-key line: valid TOML for any structure tomllib can give."""
    lines = []

    def emit(path: list[str], value: Any) -> None:
        if isinstance(value, dict) and value:
            for key, inner in value.items():
                emit([*path, key], inner)
        else:
            lines.append(f"{'.'.join(toml_key(p) for p in path)} = {toml_value(value)}")

    emit([], data)
    return "\n".join(lines) + "\n"


def paths_in(data: Any, path: tuple = ()) -> Iterator[tuple]:
    yield path
    if isinstance(data, dict):
        for key, value in data.items():
            yield from paths_in(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from paths_in(value, (*path, index))


toml_values = st.recursive(
    st.one_of(
        st.booleans(),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(),
        st.text(max_size=12),
        st.sampled_from(["{slot}", "(a | b", "[]", "{speed:zz}", "<nope>", "x is", "99", "../demo_car.dbc"]),
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def mutate_data(data: dict[str, Any], draw: st.DrawFn) -> None:
    """Delete a key, or give it a value of another type or a garbled text."""
    path = draw(st.sampled_from([p for p in paths_in(data) if p]))
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    if draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(toml_values)


def mutate_text(text: bytes, draw: st.DrawFn) -> bytes:
    """Cut, splice or insert bytes: a half-written file, a bad editor, invalid UTF-8."""
    at = draw(st.integers(0, len(text)))
    kind = draw(st.sampled_from(["truncate", "delete", "insert", "bad_utf8", "duplicate_line"]))
    if kind == "truncate":
        return text[:at]
    if kind == "delete":
        return text[:at] + text[at + draw(st.integers(1, 40)) :]
    if kind == "insert":
        return (
            text[:at]
            + draw(st.binary(max_size=8) | st.sampled_from([b"[", b'"', b"=", b"{", b"\n[intents]\n"]))
            + text[at:]
        )
    if kind == "bad_utf8":
        return text[:at] + b"\xff\xfe\xc3" + text[at:]
    lines = text.split(b"\n")
    line = draw(st.integers(0, len(lines) - 1))
    return b"\n".join([*lines[: line + 1], lines[line], *lines[line + 1 :]])


SIGNAL = re.compile(rb"(SG_ \w+ : )(\d+)\|(\d+)@([01])([+-]) \(([^,]+),([^)]+)\) \[([^|]+)\|([^\]]+)\]")
ODD_NUMBERS = ["0", "-1", "1", "7", "63", "64", "65", "1e9", "-1e9", "0.0001", "1e-300", "1e300", "3.5"]


def mutate_signal(dbc: bytes, draw: st.DrawFn) -> bytes:
    """One field of one signal (start, length, byte order, sign, scale, offset, minimum, maximum) made odd."""
    match = draw(st.sampled_from(list(SIGNAL.finditer(dbc))))
    field = draw(st.integers(2, 9))
    odd = {4: [b"0", b"1"], 5: [b"+", b"-"]}.get(field) or [n.encode() for n in ODD_NUMBERS]
    start, end = match.span(field)
    return dbc[:start] + draw(st.sampled_from(odd)) + dbc[end:]


@st.composite
def broken_demos(draw: st.DrawFn) -> list[tuple[str, bytes | None]]:
    """A list of (file name, new content or None to delete) changes to the demo profile."""
    files = sorted(p.name for p in DEMO.iterdir() if p.is_file())
    changes: list[tuple[str, bytes | None]] = []
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(files))
        original = (DEMO / name).read_bytes()
        how = draw(st.sampled_from(["data", "data", "text", "delete", "missing_dbc", "signal"]))
        if how == "signal":
            changes.append(("demo_car.dbc", mutate_signal((DEMO / "demo_car.dbc").read_bytes(), draw)))
        elif how == "data" and name.endswith(".toml"):
            data = tomllib.loads(original.decode())
            mutate_data(data, draw)
            changes.append((name, to_toml(data).encode()))
        elif how == "missing_dbc":
            changes.append(("profile.toml", (DEMO / "profile.toml").read_bytes().replace(b"demo_car.dbc", b"no.dbc")))
        elif how == "delete":
            changes.append((name, None))
        else:
            changes.append((name, mutate_text(original, draw)))
    return changes


# Each example loads a whole profile (~0.2 s): half the usual number keeps CI quick.
LOADS = settings(max_examples=max(20, settings.default.max_examples // 2))


@LOADS
@given(broken_demos())
def test_a_damaged_demo_profile_loads_or_every_problem_is_located(changes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "car"
        shutil.copytree(DEMO, root)
        for name, content in changes:
            if content is None:
                (root / name).unlink(missing_ok=True)
            else:
                (root / name).write_bytes(content)
        outcome(root)


@LOADS
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode), st.sampled_from(["profile.toml", "zz.toml"]))
def test_any_bytes_as_a_profile_file_give_a_located_error(content: bytes, name: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "car"
        shutil.copytree(DEMO, root)
        (root / name).write_bytes(content)
        assert isinstance(outcome(root), ProfileError) or name == "zz.toml"


@LOADS
@given(st.data())
def test_an_odd_signal_in_the_dbc_loads_or_is_a_located_problem(data) -> None:
    """DBC files come from elsewhere: a zero scale, an inverted range or a 65-bit signal must not crash the checker."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "car"
        shutil.copytree(DEMO, root)
        (root / "demo_car.dbc").write_bytes(mutate_signal((DEMO / "demo_car.dbc").read_bytes(), data.draw))
        outcome(root)
