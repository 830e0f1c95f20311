"""The fault table: each fault test adds a row, and the run prints them all at the end.

Rows say what was injected, what the agent did, and how long after the fault cleared it
worked again. `pytest tests/test_faults*.py` prints the table; CI prints it too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    fault: str
    bus: str
    happened: str
    recovery: str


ROWS: list[Row] = []


def record(fault: str, happened: str, recovery_seconds: float | None = None, bus: str = "-") -> None:
    recovery = "-" if recovery_seconds is None else f"{recovery_seconds:.2f} s"
    ROWS.append(Row(fault, bus, happened, recovery))


def table() -> list[str]:
    lines = ["| fault | bus | what happened | recovery |", "|---|---|---|---|"]
    lines += [f"| {r.fault} | {r.bus} | {r.happened} | {r.recovery} |" for r in ROWS]
    return lines
