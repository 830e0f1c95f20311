"""Profiles written to explode, and speech that would explode the parser: refused with a located error,
in bounded memory, and a running agent keeps its previous profile."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from carvoice.check import load_profile
from carvoice.cli import main
from carvoice.cli.text import NOT_UNDERSTOOD
from carvoice.intent.grammar import READINGS_PER_STATE
from carvoice.profile.loader import default_profile_dir
from carvoice.profile.model import ProfileError
from tests.hostile import PROFILE_BOMBS as BOMBS
from tests.hostile import PeakMemory, twenty_optional_slots_text

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
    with PeakMemory() as memory, pytest.raises(ProfileError) as raised:
        load_profile(folder)
    located = [p for p in raised.value.problems if says in p.message]
    assert located, raised.value.problems
    assert all(p.file == folder / "bomb.toml" and p.line is not None for p in located)
    assert memory.bytes < MEMORY_LIMIT, memory


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
    states = 1 + max(max(arc.src, arc.dst) for arc in profile.grammar.arcs)
    for count in range(1, len(words) + 1):  # the readings followed after each word
        assert len(profile.grammar._walk(words[:count])) <= READINGS_PER_STATE * states
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


@pytest.mark.parametrize("make", ["pipe", "huge"])
def test_a_pipe_or_a_huge_file_named_toml_is_refused_not_waited_for(tmp_path, make):
    """A FIFO among the profile's files blocked `carvoice check` (and a daemon's reload, for good)."""
    folder = with_file(tmp_path, "", "placeholder.toml")
    (folder / "placeholder.toml").unlink()
    extra = folder / "extra.toml"
    if make == "pipe":
        os.mkfifo(extra)
    else:
        extra.write_text("# a comment line of a profile grown out of all measure\n" * 100_000)
    done = subprocess.run(
        [sys.executable, "-m", "carvoice", "check", str(folder)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,  # only guards the test against the hang
    )
    says = "not a plain file (a pipe" if make == "pipe" else "more than 4 MiB: not a profile file"
    assert done.returncode == 1 and f"{extra}: {says}" in done.stderr, done.stderr
