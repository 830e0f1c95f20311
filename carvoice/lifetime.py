"""Things that hold a thread, a bus or a port: each has one owner, which closes it, also as `with thing:`."""

from __future__ import annotations

from typing import Protocol, Self


class SupportsClose(Protocol):
    def close(self) -> None: ...


class Closing:
    """A context manager that closes the object on the way out, whatever happened inside."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
