"""The pronunciation lookup finds each word where CMUdict's order puts it; these hold it to the file."""

import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from carvoice.profile import dictionary


def every_line(path: Path) -> dict[str, tuple[str, ...]]:
    """Each word's pronunciations read line by line, the slow way the lookup must agree with."""
    found: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        head, _, phones = line.partition(" ")
        found.setdefault(head.split("(", 1)[0], []).append(phones.split("#", 1)[0].strip())
    return {word: tuple(options) for word, options in found.items()}


def test_the_shipped_dictionary_is_in_the_order_the_lookup_relies_on():
    lines = dictionary.cmudict_path().read_text(encoding="utf-8").splitlines()
    words = [line.partition(" ")[0].split("(", 1)[0].encode() for line in lines]
    assert words == sorted(words)


def test_every_word_of_the_shipped_dictionary_and_its_neighbours_are_found_as_the_file_has_them():
    path = dictionary.cmudict_path()
    slow = every_line(path)
    absent = ({"zorbotron", "aaaa", "zzzzz", "readx", "a's'"} | {word + "x" for word in list(slow)[::97]}) - slow.keys()
    known: dict[str, tuple[str, ...]] = {}
    dictionary._read(path, frozenset(slow) | absent, known)
    assert {word: known[word] for word in slow} == slow
    assert all(known[word] == () for word in absent)
    assert known["read"] == ("R EH D", "R IY D")  # a word's other pronunciations come along


def test_a_small_dictionary_and_one_word_are_found_at_its_edges(tmp_path):
    path = tmp_path / "small.dict"
    path.write_text("abc AE B\nabc(2) EY B IY S IY\nmiddle M IH D AH L # a comment\nzed Z EH D\n", encoding="utf-8")
    known: dict[str, tuple[str, ...]] = {}
    dictionary._read(path, frozenset({"abc", "middle", "zed", "mid", "zee"}), known)
    assert known == {
        "abc": ("AE B", "EY B IY S IY"),
        "middle": ("M IH D AH L",),
        "zed": ("Z EH D",),
        "mid": (),
        "zee": (),
    }


@pytest.mark.parametrize("step", [16, 24, 37, 64])
def test_a_fine_index_finds_every_word_wherever_its_entries_fall(tmp_path, monkeypatch, step):
    """Index entries every few bytes land on every kind of line: first, last, `word(2)`, a long last one."""
    monkeypatch.setattr(dictionary, "INDEX_STEP", step)
    lines = ["ab AE B", "ab(2) EY B IY", "ab's AE B Z", "aba AA B AH", "b B IY", "bb B IY B IY"]
    lines += [f"w{n:02d} W AH N" for n in range(20)] + ["zed(1) Z EH D", "zed(2) Z EH D " + "AH " * 30]
    for padding in range(step):
        path = tmp_path / f"d{padding}.dict"
        text = "\n".join([f"a{'a' * padding} AH", *lines]) + "\n"
        path.write_text(text, encoding="utf-8")
        known: dict[str, tuple[str, ...]] = {}
        words = every_line(path)
        dictionary._read(path, frozenset(words) | {"aaz", "zz", "w2"}, known)
        assert {word: known[word] for word in words} == words
        assert known["aaz"] == known["zz"] == known["w2"] == ()


def test_a_dictionary_out_of_order_is_read_line_by_line(tmp_path, monkeypatch):
    monkeypatch.setattr(dictionary, "INDEX_STEP", 8)
    path = tmp_path / "unordered.dict"
    path.write_text("zed Z EH D\nmid M IH D\nabc AE B\nmid(2) M AY D\n", encoding="utf-8")
    known: dict[str, tuple[str, ...]] = {}
    dictionary._read(path, frozenset({"abc", "mid", "zed", "nope"}), known)
    assert known == {"abc": ("AE B",), "mid": ("M IH D", "M AY D"), "zed": ("Z EH D",), "nope": ()}


@pytest.mark.parametrize(
    ("step", "text", "wanted"),
    [
        # a blank line where the index takes its first entry: it reads as out of order, every line is read
        (9, b"ab AE B\nbat B AE T\n\ncat K AE T\ndog D AO G\n", {"ab": ("AE B",), "bat": ("B AE T",)}),
        # a word's other pronunciation before its plain line
        (4096, b"ab AE B\ncat(2) K AA T\ncat K AE T\ndog D AO G\n", {"cat": ("K AA T", "K AE T")}),
        # a byte that is no UTF-8 in a file read line by line
        (8, b"caf\xe9 K AE F\nzed Z EH D\nab AE B\n", {"ab": ("AE B",), "zed": ("Z EH D",)}),
    ],
)
def test_files_an_attacker_wrote_are_read_as_every_line_reads_them(tmp_path, monkeypatch, step, text, wanted):
    monkeypatch.setattr(dictionary, "INDEX_STEP", step)
    path = tmp_path / "hostile.dict"
    path.write_bytes(text)
    known: dict[str, tuple[str, ...]] = {}
    dictionary._read(path, frozenset(wanted), known)
    assert known == wanted


@pytest.mark.parametrize(
    ("word", "american", "british"),
    [
        ("heater", "HH IY T ER", "HH IY T AH"),  # a final ER is a schwa
        ("hazard", "HH AE Z ER D", "HH AE Z AH D"),  # so is one before a consonant, after the first vowel
        ("turn", "T ER N", "T ER N"),  # the first vowel stays: the vowel of "nurse", not a schwa
        ("doors", "D AO R Z", "D AO Z"),  # no r before a consonant
        ("warmer", "W AO R M ER", "W AO M AH"),
        ("bar", "B AA R", "B AA R"),  # a word-final r stays: "ba" cut short is not "bar"
        ("very", "V EH R IY", "V EH R IY"),  # an r before a vowel is said
        ("fast", "F AE S T", "F AA S T"),  # the vowel of "father"
        ("pass", "P AE S", "P AA S"),
        ("passenger", "P AE S AH N JH ER", "P AE S AH N JH AH"),  # a vowel follows the s: "trap", not "bath"
        ("off", "AO F", "AA F"),  # the vowel of "lot"
        ("long", "L AO NG", "L AA NG"),
        ("walk", "W AO K", "W AO K"),
    ],
)
def test_a_british_speaker_s_words_are_written_in_american_phones(word, american, british):
    assert dictionary.british(american) == british


def test_the_british_form_follows_the_american_ones_and_only_where_it_is_new():
    assert dictionary.with_british(["AO F", "AA F"]) == ["AO F", "AA F"]
    assert dictionary.with_british(["HH IY T ER"]) == ["HH IY T ER", "HH IY T AH"]
    temperature = ["T EH M P R AH CH ER", "T EH M P ER AH CH ER"]
    assert dictionary.with_british(temperature) == [*temperature, "T EH M P R AH CH AH", "T EH M P ER AH CH AH"]


def test_the_shipped_words_like_yes_are_what_the_script_makes_of_the_installed_model(tmp_path):
    """`carvoice/data/answer-words.txt` is generated (`scripts/make-answer-words`): a hand edit, or a
    wheel whose model or dictionary changed, shows here."""
    made = tmp_path / "answer-words.txt"
    script = Path(__file__).resolve().parents[1] / "scripts" / "make-answer-words"
    subprocess.run([sys.executable, str(script), "--output", str(made)], check=True, timeout=120)
    shipped = resources.files("carvoice").joinpath("data/answer-words.txt").read_text(encoding="utf-8")
    assert made.read_text(encoding="utf-8") == shipped
    assert {"guess", "yet"} <= set(dictionary.answer_words()["yes"]) and "unsure" in dictionary.answer_words()["sure"]
