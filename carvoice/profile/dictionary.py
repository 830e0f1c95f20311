"""Pronunciations for exactly the words a profile uses.

Loading only those words (rather than all 134,860 of CMUdict) keeps the
decoder small and start-up fast, and lets the profile checker name every word
the recogniser could never hear.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from pathlib import Path

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
    found = _lookup(frozenset(words), dictionary or cmudict_path())
    return {word: list(pronunciations) for word, pronunciations in found.items()}


@functools.lru_cache(maxsize=8)
def _lookup(wanted: frozenset[str], dictionary: Path) -> dict[str, list[str]]:
    """Reading the 134,860 lines is most of the time a profile check takes; the same profile's words are
    looked up again on every reload, install check and rollback of it."""
    found: dict[str, list[str]] = {}
    with open(dictionary, encoding="utf-8") as lines:
        for line in lines:
            head, _, phones = line.partition(" ")
            word = head.split("(", 1)[0]
            if word in wanted:
                found.setdefault(word, []).append(phones.split("#", 1)[0].strip())
    return found


def bad_phones(pronunciation: str) -> list[str]:
    return [p for p in pronunciation.split() if p not in PHONES]
