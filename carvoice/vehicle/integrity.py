"""Is this status frame from the car's own sender, in sequence? Counters, checksums and one sender per message.

A head unit only listens, so it cannot authenticate a frame (that takes a key shared with the
sender, as AUTOSAR SecOC does). What it can see is whether one message's frames form one
unbroken sequence: a rolling counter that goes up by exactly one per frame, a checksum that fits,
and no two different frames inside half a cycle. A second node sending the same identifier while
the real sender still sends breaks that sequence within one cycle, whatever its counter says:

    real  5 .......... 6 .......... 7        a copy of the counter (6, then the real 6): repeated
    spoof       6                            its own counter (9): a jump at once, and at the real 6 again

A fault makes every value of the message untrusted until FAULT_HOLD_SECONDS pass without one, and
a value is used only once a cycle has passed in which the real sender could have contradicted it
(`confirm_seconds`): a spoofed frame slipped in just before a decision is never read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# After a fault, the message's values stay unknown this long after the last fault: an attacker who
# probes now and then keeps them unknown (the rule refuses) instead of winning one time in many.
FAULT_HOLD_SECONDS = 1.0
# A value is trusted once this many cycles have passed after its frame without a contradiction.
CONFIRM_CYCLES = 2.0


def _xor(data: bytes) -> int:
    result = 0
    for byte in data:
        result ^= byte
    return result


def _sum(data: bytes) -> int:
    return sum(data) & 0xFF


def _crc8_sae_j1850(data: bytes) -> int:
    """CRC-8 SAE J1850 (polynomial 0x1D, initial value and final XOR 0xFF), as AUTOSAR's E2E profile 1 uses."""
    crc = 0xFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1D) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc ^ 0xFF


# Checksum byte = f(every other byte of the frame, in order). The names are the profile's checksum_type.
CHECKSUMS: dict[str, Callable[[bytes], int]] = {"xor": _xor, "sum": _sum, "crc8": _crc8_sae_j1850}


def checksum_byte(message: Any, signal_name: str) -> int | None:
    """The index of the one whole byte a checksum signal fills, or None when it is not exactly one byte."""
    signal = message.get_signal_by_name(signal_name)
    if signal.length != 8 or signal.is_signed or signal.multiplexer_ids:
        return None
    raw = {s.name: 0 for s in message.signals}
    raw[signal_name] = 0xFF
    data = bytes(message.encode(raw, scaling=False, strict=False))
    filled = [index for index, byte in enumerate(data) if byte]
    return filled[0] if len(filled) == 1 and data[filled[0]] == 0xFF else None


@dataclass(frozen=True)
class SequenceRules:
    """What the profile says protects one message: its counter and checksum signals, and its cycle time."""

    cycle: float  # seconds between frames, from the DBC (or max_age / 3)
    counter: str | None = None
    checksum: str | None = None
    checksum_type: str | None = None

    @property
    def confirm_seconds(self) -> float:
        return CONFIRM_CYCLES * self.cycle


class MessageGuard:
    """Watches one status message's frames; `check` names what is wrong with the newest one, if anything."""

    def __init__(self, message: Any, rules: SequenceRules, restart_after: float) -> None:
        """`restart_after`: a gap this long (the sender was quiet) starts a new sequence without a fault."""
        self.message = message
        self.rules = rules
        self.restart_after = restart_after
        self._checksum_at = checksum_byte(message, rules.checksum) if rules.checksum else None
        counter = message.get_signal_by_name(rules.counter) if rules.counter else None
        self._modulus = 1 << counter.length if counter is not None else 0
        self._ignored = frozenset(n for n in (rules.counter, rules.checksum) if n)
        self._last: tuple[float, int | None, tuple] | None = None  # seen, counter, content of the last frame

    def check(self, data: bytes, raw: dict[str, Any], seen: float) -> str | None:
        """A reason to distrust this frame (and the message), or None. `raw` is the frame decoded unscaled."""
        last, counter = self._last, raw.get(self.rules.counter) if self.rules.counter else None
        content = tuple(sorted((k, v) for k, v in raw.items() if k not in self._ignored))
        self._last = (seen, counter, content)
        if self._checksum_at is not None and self.rules.checksum_type is not None:
            expected = CHECKSUMS[self.rules.checksum_type](data[: self._checksum_at] + data[self._checksum_at + 1 :])
            if data[self._checksum_at] != expected:
                return f"checksum {data[self._checksum_at]:#04x} should be {expected:#04x}"
        if last is None or seen - last[0] > self.restart_after:
            return None
        gap = seen - last[0]
        if counter is not None and last[1] is not None:
            if counter == last[1]:
                return f"counter {self.rules.counter} repeated {counter} (frozen, or a second sender)"
            if counter != (last[1] + 1) % self._modulus:
                jump = f"went from {last[1]} to {counter}"
                return f"counter {self.rules.counter} {jump} (a second sender, or lost frames)"
        if gap < self.rules.cycle / 2 and content != last[2]:
            return f"two different frames {gap * 1000:.0f} ms apart, in a {self.rules.cycle * 1000:.0f} ms cycle"
        return None
