"""Debian roots that become head units in the tests of install-unit and provision.yml.

debootstrap takes minutes, so scripts/debootstrap-root builds the root once and keeps it (keyed by suite,
architecture and package list); each test works on its own copy. Downloads (Debian packages, wheels) are
kept between runs too, under CACHE.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("CARVOICE_TEST_CACHE", "/var/cache/carvoice-test"))
DOWNLOADS = CACHE / "downloads"
# python3: Ansible's modules run with the managed root's own Python
BASE_PACKAGES = "python3"


def needs_root() -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root for debootstrap and chroot (CI runs as root)")


def pristine_root() -> Path:
    """A Debian 12 root as debootstrap leaves it (plus BASE_PACKAGES), built on first use."""
    needs_root()
    done = subprocess.run(
        [str(ROOT / "scripts" / "debootstrap-root"), "--include", BASE_PACKAGES],
        capture_output=True,
        text=True,
        env=dict(os.environ, CARVOICE_ROOT_CACHE=str(CACHE / "roots")),
    )
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip())


@contextmanager
def fresh_root(where: Path) -> Iterator[Path]:
    """A copy of the pristine root, removed afterwards (each is some 700 MB once it is a unit)."""
    root = where / "root"
    subprocess.run(["cp", "-a", "--reflink=auto", str(pristine_root()), str(root)], check=True)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def allowed_signers(where: Path) -> Path:
    """An installer's key in ssh-keygen's allowed-signers format, as the unit will read it."""
    key = where / "installer"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "installer", "-f", str(key)], check=True)
    kind, blob = key.with_suffix(".pub").read_text().split()[:2]
    signers = where / "allowed_signers"
    signers.write_text(f'installer@workshop namespaces="carvoice-bundle" {kind} {blob}\n')
    return signers


def in_root(root: Path, *command: str) -> subprocess.CompletedProcess:
    """A command inside the root, as the unit would run it (its /proc and /dev mounted for it alone)."""
    script = f"""
        mount -t proc proc {root}/proc
        mount --rbind /dev {root}/dev
        exec chroot {root} /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"
    """
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-ec", script, "in-root", *command],
        capture_output=True,
        text=True,
        timeout=300,
    )


def unit_files_in_place(root: Path) -> None:
    """What every head unit has, whichever way it was provisioned."""
    for source, target in (
        ("systemd/carvoice.service", "etc/systemd/system/carvoice.service"),
        ("systemd/carvoice.sysusers.conf", "usr/lib/sysusers.d/carvoice.conf"),
        ("hw/99-carvoice.rules", "etc/udev/rules.d/99-carvoice.rules"),
        ("hw/80-can.network", "etc/systemd/network/80-can.network"),
        ("hw/asound.conf", "etc/asound.conf"),
    ):
        assert (root / target).read_text() == (ROOT / source).read_text(), target
    wants = root / "etc/systemd/system/multi-user.target.wants"
    enabled = {link.name: os.readlink(link) for link in wants.iterdir()}  # absolute links, inside the root
    assert enabled["carvoice.service"] == "/etc/systemd/system/carvoice.service", enabled
    assert enabled["systemd-networkd.service"].endswith("/systemd/system/systemd-networkd.service"), enabled
    passwd = {line.split(":")[0]: line.split(":") for line in (root / "etc/passwd").read_text().splitlines()}
    assert passwd["carvoice"][5:] == ["/var/lib/carvoice", "/usr/sbin/nologin"]
    group_lines = (root / "etc/group").read_text().splitlines()
    groups = {line.split(":")[0]: line.split(":")[3].split(",") for line in group_lines}
    assert "carvoice" in groups["audio"] and "carvoice" in groups["dialout"] and "carvoice" in groups

    checked = in_root(root, "/opt/carvoice/.venv/bin/carvoice", "check")
    assert checked.returncode == 0 and "OK: 'Demo car'" in checked.stdout, checked.stdout + checked.stderr
    no_tests = in_root(root, "/opt/carvoice/.venv/bin/python", "-c", "import pytest")
    assert "No module named 'pytest'" in no_tests.stderr  # runtime dependencies only

    verified = subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", "carvoice.service"], capture_output=True, text=True
    )
    assert verified.returncode == 0 and verified.stdout + verified.stderr == "", verified.stderr


def hat_block(oscillator: int = 12000000, interrupt: int = 25) -> str:
    """The boot config lines both provisioning tools write for an MCP2515 HAT."""
    marker = "carvoice CAN HAT (scripts/install-unit, scripts/ansible/provision.yml)"
    return (
        f"# BEGIN {marker}\n[all]\ndtparam=spi=on\n"
        f"dtoverlay=mcp2515-can0,oscillator={oscillator},interrupt={interrupt},spimaxfrequency=2000000\n"
        f"# END {marker}\n"
    )


def community_general() -> Path:
    """A collections folder with community.general (its chroot connection), for the installed ansible-core.

    The collection comes from the `ansible` package on PyPI, which bundles it for each ansible-core
    (ansible N goes with ansible-core 2.(N+7)); only community.general is unpacked from it, once.
    """
    from importlib.metadata import version

    core_minor = int(version("ansible-core").split(".")[1])
    folder = CACHE / "collections" / f"ansible-core-2.{core_minor}"
    if (folder / "ansible_collections/community/general/plugins/connection/chroot.py").exists():
        return folder
    wheels = CACHE / "collections" / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(wheels), f"ansible=={core_minor - 7}.*"],
        check=True,
    )
    wheel = sorted(wheels.glob(f"ansible-{core_minor - 7}.*-py3-none-any.whl"))[-1]
    unpacking = folder.with_name(folder.name + ".unpacking")
    shutil.rmtree(unpacking, ignore_errors=True)
    with zipfile.ZipFile(wheel) as archive:
        wanted = [name for name in archive.namelist() if name.startswith("ansible_collections/community/general/")]
        archive.extractall(unpacking, wanted)
    unpacking.rename(folder)
    return folder
