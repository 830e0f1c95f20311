"""Every change an install makes to the unit's filesystem, each durable before the next one starts.

A power cut can stop an install between any two system calls. The order here is what makes that
safe: files are written and fsynced in a hidden staging folder, the folder is renamed into place and
its parent fsynced, and only then does a new symlink replace the active one in a single rename.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def make_dir(path: Path) -> None:
    path.mkdir(mode=0o755)


def write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """A new file, fsynced; its directory entry becomes durable with sync_dir of its parent."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(descriptor, view) :]
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def sync_dir(path: Path) -> None:
    """Make the names in a folder (new files, renames) survive a power cut."""
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def rename(source: Path, target: Path) -> None:
    """Replace target by source in one step, durable on return."""
    os.rename(source, target)
    sync_dir(target.parent)


def point(link: Path, target: str) -> None:
    """Make `link` a symlink to `target` atomically: a new link under a temporary name renamed over it."""
    temporary = link.with_name(f".{link.name}.new")
    if temporary.is_symlink() or temporary.exists():
        remove(temporary)
    os.symlink(target, temporary)
    rename(temporary, link)


def remove(path: Path) -> None:
    """Remove a file, link or folder that is not the active profile (callers ensure that)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
    sync_dir(path.parent)
