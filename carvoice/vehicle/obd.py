"""OBD-II service 01 parameters, one table for both directions.

The agent decodes what an ECU answers; the simulator encodes what it answers with. Both read the
same table, so the two can never disagree about a formula. Formulas are those of SAE J1979 /
ISO 15031-5, where A, B are the data bytes after the PID, A first.

Messages are given here as ISO-TP payloads (service byte first), the same whether they travel as
CAN frames (ISO 15765-4) or as hex through an ELM327 adapter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from carvoice.errors import CarvoiceError

SHOW_CURRENT_DATA = 0x01  # service 01: current powertrain data
VEHICLE_INFORMATION = 0x09  # service 09: VIN and calibration ids
POSITIVE_OFFSET = 0x40  # a positive answer to service S is S + 0x40
NEGATIVE_RESPONSE = 0x7F  # 7F <service> <NRC>
RESPONSE_PENDING = 0x78  # NRC: the ECU needs longer than P2 and will answer later
VIN_PID = 0x02  # service 09 PID 02: the 17-character VIN


class ObdError(CarvoiceError):
    """An OBD-II value could not be read. The message names the device and what went wrong."""


class NoReply(ObdError):
    """The link works but no ECU answered this request (ELM327 `NO DATA`, or no frame within P2)."""


class NegativeResponse(NoReply):
    """An ECU answered 7F: it will not give this value (or, code 78, not yet)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class LinkError(ObdError):
    """The adapter or bus itself failed (gone, not an ELM327, bus error): the whole poll is off."""


@dataclass(frozen=True)
class Pid:
    """A linear service 01 parameter: value = raw * scale + offset, raw big-endian over `size` bytes."""

    pid: int
    name: str
    unit: str
    size: int
    scale: float
    offset: float = 0.0
    formula: str = ""  # J1979's form, for docs and messages

    @property
    def minimum(self) -> float:
        return self.offset

    @property
    def maximum(self) -> float:
        return (256**self.size - 1) * self.scale + self.offset


# The service 01 PIDs carvoice uses, with the scaling SAE J1979 / ISO 15031-5 give them.
PIDS: dict[int, Pid] = {
    p.pid: p
    for p in (
        Pid(0x05, "coolant temperature", "°C", 1, 1.0, -40.0, "A - 40"),
        Pid(0x0C, "engine speed", "rpm", 2, 0.25, 0.0, "(256A + B) / 4"),
        Pid(0x0D, "vehicle speed", "km/h", 1, 1.0, 0.0, "A"),
        Pid(0x2F, "fuel level", "%", 1, 100 / 255, 0.0, "100A / 255"),
        Pid(0x42, "control module voltage", "V", 2, 0.001, 0.0, "(256A + B) / 1000"),
        Pid(0x46, "ambient air temperature", "°C", 1, 1.0, -40.0, "A - 40"),
    )
}

SUPPORTED_PIDS_BASES = (0x00, 0x20, 0x40, 0x60, 0x80, 0xA0, 0xC0)  # PIDs that list the next 32


def pid_info(pid: int) -> Pid:
    try:
        return PIDS[pid]
    except KeyError:
        known = ", ".join(f"{p:02X}" for p in sorted(PIDS))
        raise ObdError(f"PID {pid:02X} is not one carvoice knows (known: {known})") from None


def decode(pid: int, data: bytes) -> float:
    """The physical value from the data bytes after the PID (J1979: value = formula(A, B))."""
    info = pid_info(pid)
    if len(data) < info.size:
        raise ObdError(f"PID {pid:02X} ({info.name}) needs {info.size} data bytes, got {data.hex(' ').upper()!r}")
    raw = int.from_bytes(data[: info.size], "big")
    return round(raw * info.scale + info.offset, 6)


def encode(pid: int, value: float) -> bytes:
    """The data bytes a J1979 ECU sends for this value. Like a real sensor, it saturates at the
    ends of the PID's range (speed above 255 km/h reads 255) rather than wrapping around."""
    info = pid_info(pid)
    raw = round((value - info.offset) / info.scale)
    raw = min(max(raw, 0), 256**info.size - 1)
    return raw.to_bytes(info.size, "big")


def encode_supported(base: int, pids: Iterable[int]) -> bytes:
    """The 4-byte mask an ECU answers to PID `base` for the PIDs it supports among base+1..base+32."""
    if base not in SUPPORTED_PIDS_BASES:
        raise ObdError(f"PID {base:02X} does not list supported PIDs")
    mask = 0
    for pid in pids:
        if base < pid <= base + 32:
            mask |= 1 << (base + 32 - pid)
    return mask.to_bytes(4, "big")


def request(service: int, pid: int) -> bytes:
    """The request payload: service, PID."""
    return bytes((service, pid))


def response(service: int, pid: int, data: bytes) -> bytes:
    """A positive response payload: service + 0x40, PID, data."""
    return bytes((service + POSITIVE_OFFSET, pid)) + data


def response_data(service: int, pid: int, payload: bytes) -> bytes | None:
    """The data bytes of a positive response to (service, pid); None when the payload answers
    something else (another ECU's late reply, another PID). A 7F answer raises NegativeResponse."""
    if len(payload) >= 3 and payload[0] == NEGATIVE_RESPONSE and payload[1] == service:
        code = payload[2]
        raise NegativeResponse(
            f"the ECU refused service {service:02X} PID {pid:02X} (negative response {code:02X})", code
        )
    if len(payload) >= 2 and payload[0] == service + POSITIVE_OFFSET and payload[1] == pid:
        return bytes(payload[2:])
    return None


def encode_vin(vin: str) -> bytes:
    """Service 09 PID 02 data for a 17-character VIN, as CAN ECUs send it (one data item)."""
    if len(vin) != 17 or not vin.isascii():
        raise ValueError(f"a VIN has 17 ASCII characters, not {vin!r}")
    return b"\x01" + vin.encode("ascii")


class ObdLink(Protocol):
    """A way to ask the car: ISO-TP on the CAN bus (obd_can.CanObd) or an ELM327 (elm327.Elm327)."""

    name: str  # names the device in every error: "socketcan:can0", "ELM327 at /dev/ttyUSB0"

    def query(self, service: int, pid: int) -> bytes:
        """The data bytes of the first positive answer; raises NoReply or LinkError."""
        ...

    def close(self) -> None: ...


def read(link: ObdLink, pid: int) -> float:
    """One service 01 value, decoded."""
    return decode(pid, link.query(SHOW_CURRENT_DATA, pid))


def ecu_response(payload: bytes, values: Mapping[int, float], vin: str | None = None) -> bytes | None:
    """What an ECU with these service 01 values (PID -> physical value) answers to a request
    payload, or None where J1979 has it stay silent (a PID or service it does not support).
    PIDs 00, 20, ... list `values`' PIDs, and each lists the next list PID when more follow."""
    if len(payload) < 2:
        return None
    service, pid = payload[0], payload[1]
    if service == VEHICLE_INFORMATION and pid == VIN_PID and vin is not None:
        return response(service, pid, encode_vin(vin))
    if service != SHOW_CURRENT_DATA:
        return None
    if pid in SUPPORTED_PIDS_BASES:
        highest = max(values, default=0)
        if pid and highest <= pid:
            return None  # the list before did not announce this one
        listed = set(values) | {base + 32 for base in SUPPORTED_PIDS_BASES if highest > base + 32}
        return response(service, pid, encode_supported(pid, listed))
    if pid in values and pid in PIDS:
        return response(service, pid, encode(pid, values[pid]))
    return None
