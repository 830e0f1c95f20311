"""What to say about a name nobody defined: the names that exist, and the nearest one.

Every "unknown X" message of the loader and the simulator ends the same way, so an
installer who mistyped `HeaterSetpiont_Cmd` reads the fix rather than hunting for it.
"""

from __future__ import annotations

from collections.abc import Iterable

# A DBC may define hundreds of signals; the nearest match matters more than the tail of the list.
_MAX_LISTED = 40


def nearest(name: str, known: Iterable[str]) -> str | None:
    """The known name most like `name` (ignoring case and _), if any is close enough to be a typo."""
    import difflib  # here: only a broken profile needs it, and the daemon is 0.2 MB smaller without it

    by_normal = {_normal(k): k for k in known}
    close = difflib.get_close_matches(_normal(name), list(by_normal), n=1, cutoff=0.6)
    return by_normal[close[0]] if close else None


def known_names(name: str, known: Iterable[str], label: str = "known") -> str:
    """`(known: a, b, c; did you mean b?)`, or `(known: none)`."""
    names = sorted(set(known), key=str)
    if not names:
        return f"({label}: none)"
    listed = ", ".join(names[:_MAX_LISTED])
    if len(names) > _MAX_LISTED:
        listed += f", ... ({len(names) - _MAX_LISTED} more)"
    guess = nearest(name, names)
    return f"({label}: {listed}; did you mean {guess}?)" if guess else f"({label}: {listed})"


def _normal(name: str) -> str:
    return name.lower().replace("_", "")
