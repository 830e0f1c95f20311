"""Pronunciations for exactly the words a profile uses.

Loading only those words (rather than all 134,860 of CMUdict) keeps the
decoder small and start-up fast, and lets the profile checker name every word
the recogniser could never hear.
"""

from __future__ import annotations

import bisect
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
VOWELS = frozenset("AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split())


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
        _read(path, (wanted | searched_words() | ANSWER_GRAMMAR.words) - known.keys(), known)
    return {word: list(known[word]) for word in wanted if known[word]}


# The words looked up so far in each dictionary file: their pronunciations, () for a word it lacks.
_known: dict[Path, dict[str, tuple[str, ...]]] = {}


def _read(dictionary: Path, wanted: frozenset[str], known: dict[str, tuple[str, ...]]) -> None:
    """Reading the dictionary is most of the time a profile check takes, so it is done as seldom
    as can be: the same profile's words are looked up again on every reload, install check and
    rollback, and the common words of `outside_words`, the `car_words`, the answers' (yes, no) and
    the words like them (`answer_words`) come along with the first, so the daemon's start-up reads
    the file once for the profile and the recogniser.

    CMUdict lists its words in order, a word's other pronunciations (`word(2)`) right after it
    (`tests/test_dictionary.py` holds the shipped file to that), so each word is looked for only
    in the few kilobytes where it must stand: splitting all 134,860 lines took 36 ms of CPU, a
    tenth of the daemon's start-up. A dictionary whose index shows it out of order is read line
    by line."""
    data = b"\n" + dictionary.read_bytes()
    starts, heads = _index(data)
    if heads != sorted(heads):
        _read_every_line(data, wanted, known)
        return
    for word in wanted:
        name = word.encode("utf-8")
        low = starts[max(bisect.bisect_left(heads, name) - 1, 0)]
        high = bisect.bisect_right(heads, name)
        high = starts[high] + 1 if high < len(starts) else len(data)
        found = [at for mark in b" (" if (at := data.find(b"\n" + name + bytes([mark]), low, high)) >= 0]
        known[word] = tuple(_pronunciations(data, min(found), name)) if found else ()


INDEX_STEP = 4096  # bytes of the dictionary between two entries of its index


def _index(data: bytes) -> tuple[list[int], list[bytes]]:
    """Where a line begins about every INDEX_STEP bytes, and the word it holds, from the first line on
    (a blank line then reads as out of order)."""
    starts, heads = [0], [_word_at(data, 0)]
    for offset in range(INDEX_STEP, len(data), INDEX_STEP):
        line = data.find(b"\n", offset)
        if not 0 <= line < len(data) - 1:  # no line begins after it
            break
        starts.append(line)
        heads.append(_word_at(data, line))
    return starts, heads


def _word_at(data: bytes, line: int) -> bytes:
    """The word of the line that begins at `line` (its newline), without `(2)`."""
    end = data.find(b"\n", line + 1)
    return data[line + 1 : end if end >= 0 else len(data)].split(b" ", 1)[0].split(b"(", 1)[0]


def _read_every_line(data: bytes, wanted: frozenset[str], known: dict[str, tuple[str, ...]]) -> None:
    """The slow way, for a dictionary not in order: every line is split."""
    found: dict[str, list[str]] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        head, _, phones = line.partition(" ")
        word = head.split("(", 1)[0]
        if word in wanted:
            found.setdefault(word, []).append(phones.split("#", 1)[0].strip())
    known.update({word: tuple(found.get(word, ())) for word in wanted})


def _pronunciations(data: bytes, start: int, word: bytes) -> list[str]:
    """The phones of the word's lines from `start` on, while the lines are the word's."""
    options = []
    while start < len(data) and _word_at(data, start) == word:
        end = data.find(b"\n", start + 1)
        end = len(data) if end < 0 else end
        options.append(data[start + 1 : end].partition(b" ")[2].split(b"#", 1)[0].strip().decode("utf-8"))
        start = end
    return options


@functools.cache
def outside_words() -> tuple[str, ...]:
    """Common English words, in the recogniser's dictionary beside the profile's so that a heard word
    can be checked against them (`scripts/make-outside-words` made the list)."""
    return _word_list("outside-words.txt")


def car_words() -> tuple[str, ...]:
    """Words a driver names the parts and functions of a car with, tried in the place of a heard word
    that names one, at a milder prior than the common words: said in a car, "the hood" is likelier
    than any word (README, "Things the car does not have")."""
    return _word_list("car-words.txt")


@functools.cache
def answer_words() -> dict[str, tuple[str, ...]]:
    """For each word of a yes, the common words that sound like it ("guess", "yet" for "yes"; made
    by `scripts/make-answer-words`): after a question, the yes word must fit clearly better than
    each (README, "Words like yes")."""
    lines = _word_list("answer-words.txt")
    return {word: tuple(like.split()) for word, like in (line.split(":", 1) for line in lines)}


@functools.cache
def words_like_answers() -> frozenset[str]:
    """All of `answer_words` at once: the decoder's dictionary must hold each."""
    return frozenset(word for like in answer_words().values() for word in like)


@functools.cache
def searched_words() -> frozenset[str]:
    """The words the decoder holds besides a profile's: those a heard word is tried against."""
    return frozenset(outside_words()) | frozenset(car_words()) | words_like_answers()


@functools.cache
def _word_list(name: str) -> tuple[str, ...]:
    text = resources.files("carvoice").joinpath(f"data/{name}").read_text(encoding="utf-8")
    return tuple(line for line in text.splitlines() if line and not line.startswith("#"))


def british(pronunciation: str) -> str:
    """The word as a southern British speaker says it, written in the en-us model's phones.

    CMUdict and the acoustic model are American, and British drivers were rejected for words they
    said plainly ("heater", "make it warmer": README, "British speakers"). Their r is silent before
    a consonant ("warm", "doors"); an ER after the word's first vowel, before a consonant or at the
    end, is a schwa ("heater", "hazard"); "fast" and "after" take the vowel of "father", "off" and
    "long" that of "lot". A word-final r after another vowel stays ("bar"): without it, "bar" cut
    inside its vowel was whole, and the car acted on the cut-off command.
    """
    phones = pronunciation.split()
    first_vowel = next((i for i, phone in enumerate(phones) if phone in VOWELS), -1)
    said: list[str] = []
    for i, phone in enumerate(phones):
        after = phones[i + 1] if i + 1 < len(phones) else None
        before_consonant = after is not None and after not in VOWELS
        if phone == "R" and said and said[-1] in VOWELS and before_consonant:
            continue
        if phone == "ER" and i != first_vowel and (after is None or before_consonant):
            phone = "AH"
        elif phone == "AE" and after in ("F", "S", "TH") and (i + 2 == len(phones) or phones[i + 2] not in VOWELS):
            phone = "AA"  # "fast", "after", "path", "pass"
        elif phone == "AO" and after in ("F", "TH", "S", "NG", "G"):
            phone = "AA"  # "off", "cloth", "long", "dog"
        said.append(phone)
    return " ".join(said)


def with_british(pronunciations: list[str]) -> list[str]:
    """The pronunciations, then each one's British form where that is new (`british`)."""
    found = list(pronunciations)
    for form in map(british, pronunciations):
        if form not in found:
            found.append(form)
    return found


def bad_phones(pronunciation: str) -> list[str]:
    return [p for p in pronunciation.split() if p not in PHONES]
