"""Profiles written to explode, and speech that would explode the parser: refused with a located error,
in bounded memory, and a running agent keeps its previous profile."""

from __future__ import annotations

import json
import shutil
import threading
import tracemalloc
from pathlib import Path

import pytest

from carvoice.cli import main
from carvoice.cli.text import NOT_UNDERSTOOD
from carvoice.intent.grammar import READINGS_PER_STATE
from carvoice.profile.loader import default_profile_dir, load_profile
from carvoice.profile.model import ProfileError
from tests.hostile import PROFILE_BOMBS as BOMBS
from tests.hostile import twenty_optional_slots_text

# Memory the loader may take to refuse any of these (the demo car itself takes about 15 MB).
MEMORY_LIMIT = 100 * 2**20


def with_file(tmp_path: Path, text: str, name: str = "bomb.toml") -> Path:
    folder = tmp_path / "profile"
    shutil.copytree(default_profile_dir(), folder)
    (folder / name).write_text(text)
    return folder


@pytest.mark.parametrize("bomb", BOMBS)
def test_an_exploding_profile_is_refused_with_a_located_error_in_bounded_memory(tmp_path, bomb):
    text, says = BOMBS[bomb]
    folder = with_file(tmp_path, text)
    tracemalloc.start()
    try:
        with pytest.raises(ProfileError) as raised:
            load_profile(folder)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    located = [p for p in raised.value.problems if says in p.message]
    assert located, raised.value.problems
    assert all(p.file == folder / "bomb.toml" and p.line is not None for p in located)
    assert peak < MEMORY_LIMIT, f"{peak / 2**20:.0f} MB"


def test_the_daemon_runs_the_previous_profile_when_the_active_one_explodes(tmp_path, capsys):
    etc = tmp_path / "etc" / "carvoice"
    etc.mkdir(parents=True)
    (etc / "profile").symlink_to(with_file(tmp_path, BOMBS["5,000 nested TOML arrays"][0]))
    (etc / "previous").symlink_to(default_profile_dir())
    assert main(["run", "--profile", str(etc / "profile"), "--audio", str(silent_wav(tmp_path)), "--no-speech"]) == 0
    err = capsys.readouterr().err
    assert "bomb.toml:3" in err and "running the previous profile" in err


def silent_wav(tmp_path: Path) -> Path:
    import numpy as np

    from carvoice.audio.wavfile import write_wav

    path = tmp_path / "quiet.wav"
    write_wav(path, np.zeros(16000, dtype=np.int16))
    return path


def twenty_optional_slots(tmp_path: Path) -> Path:
    return with_file(tmp_path, twenty_optional_slots_text())


def test_speech_that_would_explode_the_parser_is_answered(tmp_path, capsys):
    """Twenty optional slots pass the check; "horn on on on ..." has exponentially many readings, yet
    the parser follows at most READINGS_PER_STATE per state, so its work grows with the words only."""
    folder = twenty_optional_slots(tmp_path)
    profile = load_profile(folder)
    words = ["horn", *["on"] * 10]
    configs = profile.grammar._closure({(profile.grammar.start, ("", ())): ()}, 0)
    for position, word in enumerate(words, 1):
        stepped = {
            (arc.dst, meaning): tags
            for (state, meaning), tags in configs.items()
            for arc in profile.grammar._out.get(state, ())
            if arc.word == word
        }
        configs = profile.grammar._closure(stepped, position)
        assert len(configs) <= READINGS_PER_STATE * profile.grammar.n_states
    answered: list[int] = []
    worker = threading.Thread(
        target=lambda: answered.append(
            main(["text", "--profile", str(folder), "--no-speech", "--events", "json", " ".join(words)])
        ),
        daemon=True,
    )
    worker.start()
    worker.join(timeout=120)  # only guards the test against a hang: no time is asserted
    assert answered == [NOT_UNDERSTOOD]  # answered "Sorry?", not hung
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["event"] for e in events] == ["rejected", "say"]
    assert events[0]["reason"].startswith("ambiguous")
