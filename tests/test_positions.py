"""Every key and value of a TOML file is found at the line it is written on."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carvoice.profile.positions import Positions, split_key
from tests.conftest import FILES

ROOT = FILES.parents[1]
TOML_FILES = sorted((ROOT / "config").rglob("*.toml")) + sorted(FILES.rglob("*.toml"))


def paths_of(value: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    found = [(path, value)] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths_of(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths_of(item, (*path, index))
    return found


@pytest.mark.parametrize("path", TOML_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_key_of_the_profiles_is_at_a_line_that_names_it(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    positions = Positions(text)
    lines = text.splitlines()
    for key_path, _ in paths_of(tomllib.loads(text)):
        line = positions.line_of(key_path)
        assert line is not None, key_path
        name = key_path[-1]
        if isinstance(name, str):
            # The key itself, or a header naming it ([[intents.x.actions]] for intents.x.actions[0]).
            assert name in lines[line - 1], (key_path, line, lines[line - 1])


def test_the_same_key_in_two_tables_is_found_in_its_own():
    text = "[[a]]\ntimeout = 1\n\n[[a]]\n# two\ntimeout = -1\n[a.inner]\nx = 1\n"
    positions = Positions(text)
    assert positions.line_of("a[1].timeout") == 6
    assert positions.line_of("a[0].timeout") == 2
    assert positions.line_of("a[1].inner.x") == 8
    assert positions.line_of("a[1].missing") == 4  # the nearest thing written: the table


def test_values_in_lists_inline_tables_and_long_strings():
    text = 'values = [\n  "on",\n  "off",\n]\nsignals = { A = 1, "B.c" = 2 }\nlong = """\none\ntwo needle\n"""\n'
    positions = Positions(text)
    assert positions.line_of("values.off") == 3  # a list of words: the loader names the word
    assert positions.line_of("values[0]") == 2
    assert positions.line_of("signals.B.c") == 5  # a quoted key with a dot in it
    assert positions.line_of("long", "needle") == 8
    assert positions.line_of("long") == 6


def test_split_key():
    assert split_key("intents.x.actions[2].when") == ["intents", "x", "actions", 2, "when"]


# Tables of simple keys and values, written in the ways an editor does.
_names = st.text("abcdefgh_-", min_size=1, max_size=6)
_scalars = st.one_of(st.integers(-5, 5), st.booleans(), st.text("ab #,]}'\"\\", max_size=5), st.floats(-1, 1))
_values = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_names, inner, max_size=3), max_leaves=6
)


def _write(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[\n  " + ",\n  ".join(_write(v) for v in value) + "\n]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f'"{k}" = {_write(v)}' for k, v in value.items()) + " }"
    return repr(value)


@given(st.dictionaries(_names, st.dictionaries(_names, _values, max_size=4), max_size=4))
def test_any_written_table_has_every_key_at_its_line(tables: dict[str, dict[str, Any]]) -> None:
    text = "".join(
        f"# {name}\n[{name}]\n" + "".join(f"{key} = {_write(value)} # x\n" for key, value in table.items())
        for name, table in tables.items()
    )
    data = tomllib.loads(text)
    positions = Positions(text)
    lines = text.splitlines()
    for key_path, _ in paths_of(data):
        line = positions.line_of(key_path)
        assert line is not None, (key_path, text)
        if len(key_path) <= 2:
            assert str(key_path[-1]) in lines[line - 1], (key_path, text)
