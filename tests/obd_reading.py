"""Reading what a simulated ECU answers: the other direction of carvoice.vehicle.obd, which the
agent itself never needs (it asks for values, it does not list PIDs or read the VIN)."""

from __future__ import annotations

from carvoice.vehicle import obd


def decode_supported(base: int, data: bytes) -> frozenset[int]:
    """PID `base` (00, 20, ...) answers a 32-bit mask: bit 31 of A is PID base+1, bit 0 of D is base+32."""
    assert base in obd.SUPPORTED_PIDS_BASES and len(data) >= 4, (base, data)
    mask = int.from_bytes(data[:4], "big")
    return frozenset(base + 32 - bit for bit in range(32) if mask >> bit & 1)


def negative_response(service: int, code: int) -> bytes:
    return bytes((obd.NEGATIVE_RESPONSE, service, code))


def read_vin(link: obd.ObdLink) -> str:
    """Service 09 PID 02: a count of data items (1 on CAN) and 17 ASCII characters."""
    data = link.query(obd.VEHICLE_INFORMATION, obd.VIN_PID)
    return bytes(data[1:] if len(data) == 18 else data).decode("ascii", errors="replace").strip("\x00 ")
