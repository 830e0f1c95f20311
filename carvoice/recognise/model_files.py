"""The acoustic model's files in the forms Debian's `sphinxtrain` reads.

The pocketsphinx wheel ships its en-us model for decoding only: the mixture weights as a
quantised `sendump` (one byte per weight) and the model definition in binary. `bw`, the
sphinxtrain tool that collects the statistics MLLR and MAP adaptation need, reads only the
s3 `mixture_weights` (float32) and a text `mdef`. This module writes both from the shipped
files, so that a car's own recordings can adapt the model (scripts/adapt).

A `sendump` byte is a weight's negated logarithm in the decoder's 8-bit log table (base
1.0001, shifted right by 10 bits): weight = 1.0001 ** -(1024 * byte), to within the step.
Each byte is written back as the middle of its step, so a decoder that reads the floats
quantises them to the same bytes again.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

LOG_BASE = 1.0001  # the decoder's logmath base
SENONE_SCORE_SHIFT = 10  # bits dropped from the log weights in the 8-bit table
S3_BYTE_ORDER_MAGIC = 0x11223344
WORD_POSITIONS = "ibesu"  # within a word, beginning, end, single, unknown: text mdef's last context column


class ModelFileError(ValueError):
    """A model file that is not what its reader expects: the message names the file."""


def read_sendump(path: Path) -> np.ndarray:
    """The quantised weights of a `sendump`, as bytes shaped (streams, densities, senones)."""
    data = path.read_bytes()
    offset = 0
    streams = 0

    def field() -> bytes | None:
        nonlocal offset
        if offset + 4 > len(data):
            raise ModelFileError(f"{path}: ends inside its header")
        (length,) = struct.unpack_from("<i", data, offset)
        if not 0 <= length < 1000:
            raise ModelFileError(f"{path}: header string of length {length} at byte {offset}: not a sendump")
        offset += 4
        if length == 0:
            return None
        text = data[offset : offset + length]
        offset += length
        return text.rstrip(b"\0")

    while (text := field()) is not None:
        name, _, value = text.decode("latin-1").partition(" ")
        if name == "cluster_count" and value != "0":
            raise ModelFileError(f"{path}: clustered weights ({text.decode()}) are not supported")
        if name == "feature_count":
            streams = int(value)
    if not streams:
        raise ModelFileError(f"{path}: no feature_count in the header")
    densities, senones = struct.unpack_from("<ii", data, offset)
    offset += 8
    expected = streams * densities * senones
    if len(data) - offset != expected:
        raise ModelFileError(
            f"{path}: {len(data) - offset} bytes of weights, expected {streams} x {densities} x {senones}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(streams, densities, senones)


def weights_from_sendump(quantised: np.ndarray) -> np.ndarray:
    """Float mixture weights (senones, streams, densities), each senone's stream summing to 1."""
    steps = quantised.astype(np.float64) * (1 << SENONE_SCORE_SHIFT) - (1 << (SENONE_SCORE_SHIFT - 1))
    weights = np.exp(-steps * np.log(LOG_BASE)).transpose(2, 0, 1)
    return (weights / weights.sum(axis=2, keepdims=True)).astype(np.float32)


def write_s3(path: Path, header: list[int], values: np.ndarray) -> None:
    """An s3 binary file as sphinxtrain writes its parameters: text header, magic, sizes, float32."""
    with path.open("wb") as out:
        out.write(b"s3\nversion 1.0\nendhdr\n")
        out.write(struct.pack("<I", S3_BYTE_ORDER_MAGIC))
        out.write(struct.pack(f"<{len(header)}i", *header))
        out.write(np.ascontiguousarray(values, dtype="<f4").tobytes())


def write_mixture_weights(path: Path, weights: np.ndarray) -> None:
    senones, streams, densities = weights.shape
    write_s3(path, [senones, streams, densities, weights.size], weights)


def text_mdef(path: Path) -> str:
    """A binary model definition (pocketsphinx's `mdef`) as the text one sphinxtrain reads."""
    data = path.read_bytes()
    if len(data) < 12 or data[:4] not in (b"BMDF", b"FDMB"):
        raise ModelFileError(f"{path}: not a binary model definition")
    if data[:4] == b"FDMB":
        raise ModelFileError(f"{path}: big-endian model definitions are not supported")
    (description_length,) = struct.unpack_from("<i", data, 8)
    offset = 12 + description_length
    counts = struct.unpack_from("<10i", data, offset)
    n_ciphone, n_phone, n_emit_state, n_ci_sen, n_sen, n_tmat, n_sseq, _n_ctx, n_cd_tree, _sil = counts
    if n_emit_state == 0:
        raise ModelFileError(f"{path}: phones with different numbers of states are not supported")
    offset += 40
    names = []
    for _ in range(n_ciphone):
        end = data.index(b"\0", offset)
        names.append(data[offset:end].decode("ascii"))
        offset = end + 1
    offset = (offset - (12 + description_length) + 3) // 4 * 4 + 12 + description_length
    offset += 8 * n_cd_tree  # the lookup tree: not needed, every phone's entry names its contexts
    phones = np.frombuffer(
        data, dtype=np.dtype([("ssid", "<i4"), ("tmat", "<i4"), ("attr", "u1", 4)]), count=n_phone, offset=offset
    )
    offset += 12 * n_phone
    (sseq_size,) = struct.unpack_from("<i", data, offset)
    if sseq_size != n_sseq * n_emit_state:
        raise ModelFileError(f"{path}: {sseq_size} senone ids for {n_sseq} sequences of {n_emit_state}")
    sseq = np.frombuffer(data, dtype="<u2", count=sseq_size, offset=offset + 4).reshape(n_sseq, n_emit_state)
    filler = [bool(phones[p]["attr"][0]) for p in range(n_ciphone)]
    lines = [
        "0.3",
        f"{n_ciphone} n_base",
        f"{n_phone - n_ciphone} n_tri",
        f"{n_phone * (n_emit_state + 1)} n_state_map",
        f"{n_sen} n_tied_state",
        f"{n_ci_sen} n_tied_ci_state",
        f"{n_tmat} n_tied_tmat",
        "#",
        "# Columns definitions",
        "#base lft  rt p attrib tmat      ... state id's ...",
    ]
    for p, phone in enumerate(phones):
        if p < n_ciphone:
            base, context = p, ("-", "-", "-")
        else:
            position, base, left, right = (int(a) for a in phone["attr"])
            context = (names[left], names[right], WORD_POSITIONS[position])
        attribute = "filler" if filler[base] else "n/a"
        states = " ".join(str(s) for s in sseq[phone["ssid"]])
        lines.append(f"{names[base]} {' '.join(context)} {attribute} {phone['tmat']} {states} N")
    return "\n".join(lines) + "\n"
