"""Pronunciations for exactly the words a profile uses.

Loading only those words (rather than all 134,860 of CMUdict) keeps the
decoder small and start-up fast, and lets the profile checker name every word
the recogniser could never hear.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from carvoice.intent.answers import ANSWER_GRAMMAR

# The phone set of the PocketSphinx en-us acoustic model (CMU ARPAbet, no stress).
PHONES = frozenset(
    "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z ZH".split()
)


@functools.cache
def model_dir() -> Path:
    import pocketsphinx

    return Path(os.environ.get("POCKETSPHINX_PATH") or pocketsphinx.get_model_path()) / "en-us"


def cmudict_path() -> Path:
    return model_dir() / "cmudict-en-us.dict"


def lookup(words: Iterable[str], dictionary: Path | None = None) -> dict[str, list[str]]:
    """Every pronunciation CMUdict has for each word; words it lacks are absent."""
    path = dictionary or cmudict_path()
    known = _known.setdefault(path, {})
    wanted = frozenset(words)
    if not wanted <= known.keys():
        _read(path, (wanted | frozenset(outside_words()) | ANSWER_GRAMMAR.words) - known.keys(), known)
    return {word: list(known[word]) for word in wanted if known[word]}


# The words looked up so far in each dictionary file: their pronunciations, () for a word it lacks.
_known: dict[Path, dict[str, tuple[str, ...]]] = {}


def _read(dictionary: Path, wanted: frozenset[str], known: dict[str, tuple[str, ...]]) -> None:
    """Reading the 134,860 lines is most of the time a profile check takes, so it is done as seldom
    as can be: the same profile's words are looked up again on every reload, install check and
    rollback, and the common words of `outside_words` and the answers' (yes, no) come along with the
    first, so the daemon's start-up reads the file once for the profile and the recogniser."""
    found: dict[str, list[str]] = {}
    with open(dictionary, encoding="utf-8") as lines:
        for line in lines:
            head, _, phones = line.partition(" ")
            word = head.split("(", 1)[0]
            if word in wanted:
                found.setdefault(word, []).append(phones.split("#", 1)[0].strip())
    known.update({word: tuple(found.get(word, ())) for word in wanted})


@functools.cache
def outside_words() -> tuple[str, ...]:
    """Common English words, in the recogniser's dictionary beside the profile's so that a heard word
    can be checked against them (`scripts/make-outside-words` made the list)."""
    text = resources.files("carvoice").joinpath("data/outside-words.txt").read_text(encoding="utf-8")
    return tuple(line for line in text.splitlines() if line and not line.startswith("#"))


def bad_phones(pronunciation: str) -> list[str]:
    return [p for p in pronunciation.split() if p not in PHONES]
