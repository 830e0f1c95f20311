"""`carvoice SUBCOMMAND ...`: each subcommand is one module here with add_parser() and run()."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import pkgutil
import sys
from collections.abc import Iterator, Sequence

from carvoice import __version__

# Native modules the daemon's libraries load only where they can, and that the daemon never needs:
# ssl (asyncio's TLS; python-can imports asyncio, and carvoice has no network) and _hashlib (OpenSSL's
# hashes, which python-can's MF4 reader brings through hashlib; Python's own sha256 gives the same
# digests of the profile's files). Without them the daemon is 4.6 MB smaller (libssl and libcrypto).
# Only the daemon goes without: `bundle` hashes large files, where OpenSSL's sha256 is about 6x faster.
DAEMON_GOES_WITHOUT = ("ssl", "_hashlib")
DAEMON = "run"


def _subcommand_modules(argv: Sequence[str] = ()) -> list:
    """Every subcommand's module, or only the one `argv` names: the daemon then does not load the
    evaluation, simulator and bundle code and what they import (memory and start-up on the head unit)."""
    import carvoice.cli as package

    names = sorted(m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_"))
    named = next((arg for arg in argv if not arg.startswith("-")), None)  # the top level's options take no value
    names = [named] if named in names else names
    with _unavailable(DAEMON_GOES_WITHOUT if names == [DAEMON] else ()):
        modules = [importlib.import_module(f"carvoice.cli.{name}") for name in names]
    return [m for m in modules if hasattr(m, "add_parser")]


@contextlib.contextmanager
def _unavailable(names: Sequence[str]) -> Iterator[None]:
    """While it lasts, importing one of `names` not yet imported raises ImportError (a None in
    sys.modules says so); whatever imports them afterwards gets them."""
    blocked = [name for name in names if name not in sys.modules]
    sys.modules.update(dict.fromkeys(blocked))  # type: ignore[arg-type]  # None: "import NAME" fails
    try:
        yield
    finally:
        for name in blocked:
            if sys.modules.get(name, "") is None:
                del sys.modules[name]


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The whole command line, or only the subcommand that `argv` names (its help and errors are the same)."""
    parser = argparse.ArgumentParser(prog="carvoice", description="An offline voice agent for cars.")
    parser.add_argument("--version", action="version", version=f"carvoice {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _subcommand_modules(argv):
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        sys.stderr.close()
        return 1
