"""Hostile input as an attacker would make it: bundle bombs and lying WAV headers.

Shared by the tests and by scripts/hostile-costs, which measures what refusing each costs.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Iterator
from pathlib import Path

from carvoice.bundle import archive

GIB = 2**30


def _header(name: bytes, size: int, kind: bytes) -> bytes:
    """One ustar header block, checksum included."""
    block = bytearray(512)
    block[0 : len(name)] = name
    block[100:108] = b"0000644\0"
    block[108:124] = b"0000000\0" * 2
    block[124:136] = b"%011o\0" % size
    block[136:148] = b"00000000000\0"
    block[148:156] = b" " * 8
    block[156:157] = kind
    block[257:265] = b"ustar\x0000"
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def _bundle(path: Path, chunks: Iterator[bytes], level: int = 9) -> Path:
    """An unsigned bundle whose payload is the gzip of `chunks`, written as it is compressed."""
    payload = path.with_suffix(".payload")
    with payload.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=level, mtime=0) as zipped:
        for chunk in chunks:
            zipped.write(chunk)
    archive.pack(path, payload.read_bytes())
    payload.unlink()
    return path


def big_header_bundle(path: Path, kind: bytes = b"x", size: int = GIB) -> Path:
    """A pax header (kind x) or GNU long name (kind L) of `size` bytes: about 1 MB compressed for 1 GiB."""
    record = b"path=" if kind == b"x" else b""

    def chunks() -> Iterator[bytes]:
        yield _header(b"././@PaxHeader" if kind == b"x" else b"././@LongLink", size, kind)
        head = b"%d " % size + record
        yield head
        left = size - len(head)
        block = b"a" * 2**20
        while left > 0:
            yield block[: min(left, len(block))]
            left -= len(block)
        yield bytes(-size % 512)
        yield _header(b"manifest.json", 0, b"0") + bytes(1024)

    return _bundle(path, chunks())


def many_folders_bundle(path: Path, count: int = 2_000_000) -> Path:
    """`count` folder entries: 2 million are 1 GiB of tar headers, a few MB compressed."""
    template = bytearray(_header(b"", 0, b"5"))

    def chunks() -> Iterator[bytes]:
        batch = []
        for index in range(count):
            block = template[:]
            name = b"profile/%07d/" % index
            block[0 : len(name)] = name
            block[148:156] = b" " * 8
            block[148:156] = b"%06o\0 " % sum(block)
            batch.append(bytes(block))
            if len(batch) == 4096:
                yield b"".join(batch)
                batch.clear()
        yield b"".join(batch) + bytes(1024)

    return _bundle(path, chunks(), level=6)


def wav_header(rate: int, channels: int = 1, bits: int = 16, frames: int = 16000, fmt: int = 1) -> bytes:
    """A RIFF/WAVE file whose fmt chunk says whatever it is told (the data is silence)."""
    block = channels * bits // 8
    fmt_chunk = struct.pack("<HHIIHH", fmt, channels, rate, (rate * block) & 0xFFFFFFFF, block, bits)
    data = bytes(frames * block)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk + b"data" + struct.pack("<I", len(data))
    return b"RIFF" + struct.pack("<I", len(body) + len(data)) + body + data


def doubling_rules(levels: int, uses: int = 2) -> str:
    """Each rule uses the one before `uses` times: a few hundred bytes for 2**22 sentences."""
    rules = ['r0 = "(horn | beep)"'] + [f'r{i} = "{" ".join([f"<r{i - 1}>"] * uses)}"' for i in range(1, levels + 1)]
    return "[rules]\n" + "\n".join(rules) + f'\n\n[intents.bomb]\nsentences = ["sound <r{levels}>"]\n'


PROFILE_BOMBS = {  # name -> (bomb.toml added to the demo car, what the located error says)
    "22 levels of rules, each using the one before twice": (doubling_rules(22), "more than 8 deep"),
    "7 levels of rules, each using the one before ten times": (doubling_rules(7, 10), "arcs"),
    "3,000 nested parentheses in a sentence": (
        '[intents.bomb]\nsentences = ["' + "(" * 3000 + "horn" + ")" * 3000 + '"]\n',
        "nested more than 16 deep",
    ),
    "3,000 nots in a condition": (
        '[intents.bomb]\nsentences = ["sound the horn"]\nallow_when = "' + "not " * 3000 + 'speed is 0"\n',
        "nested more than 16 deep",
    ),
    "3,000 nested parentheses in a condition": (
        '[intents.bomb]\nsentences = ["sound the horn"]\nallow_when = "'
        + "(" * 3000
        + "speed is 0"
        + ")" * 3000
        + '"\n',
        "nested more than 16 deep",
    ),
    "5,000 nested TOML arrays": ("[vehicle]\n\nx = " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    "5,000 nested TOML inline tables": ("[vehicle]\n\nx = " + "{a = " * 5000 + "1" + "}" * 5000 + "\n", "too deeply"),
    "a number slot of a million values": (
        '[slots.big]\nrange = [0, 999999]\n\n[intents.bomb]\nsentences = ["set it to {big}"]\n',
        "more than 1,000",
    ),
    "2,000 optional words in a row": (
        '[intents.bomb]\nsentences = ["sound ' + "[the] " * 2000 + 'horn"]\n',
        "optional",
    ),
}


def twenty_optional_slots_text() -> str:
    """An intent whose one sentence has twenty optional on/off slots: "horn on on on ..." has
    exponentially many readings."""
    slots = " ".join(f"[{{s{i}:state}}]" for i in range(20))
    return f'[intents.horn_bomb]\nsentences = ["horn {slots}"]\nreply = "Beep."\n'
