"""`carvoice SUBCOMMAND ...`: each subcommand is one module here with add_parser() and run()."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from carvoice import __version__


def _subcommand_modules() -> list:
    import carvoice.cli as package

    names = sorted(m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_"))
    modules = [importlib.import_module(f"carvoice.cli.{name}") for name in names]
    return [m for m in modules if hasattr(m, "add_parser")]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="carvoice", description="An offline voice agent for cars.")
    parser.add_argument("--version", action="version", version=f"carvoice {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _subcommand_modules():
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
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
