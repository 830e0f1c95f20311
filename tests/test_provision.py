"""scripts/ansible/provision.yml through Ansible's chroot connection on a fresh debootstrap root (never on
this machine itself): a complete head unit, no change reported on a second run, and install-unit finds
nothing left to do on a unit Ansible made."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.unit_roots import (
    DOWNLOADS,
    ROOT,
    allowed_signers,
    community_general,
    fresh_root,
    hat_block,
    needs_root,
    unit_files_in_place,
)

PLAYBOOK = ROOT / "scripts" / "ansible" / "provision.yml"
ANSIBLE_PLAYBOOK = ROOT / ".venv" / "bin" / "ansible-playbook"


def provision(root: Path, signers: Path) -> tuple[dict[str, int], str]:
    """One run of the playbook on the root, with the mounts an image needs (this run's alone); the recap."""
    (DOWNLOADS / "apt").mkdir(parents=True, exist_ok=True)
    (DOWNLOADS / "pip").mkdir(parents=True, exist_ok=True)
    (root / "var/cache/carvoice-pip").mkdir(exist_ok=True)
    script = f"""
        mount -t proc proc {root}/proc
        mount --rbind /dev {root}/dev
        mount --rbind /sys {root}/sys
        mount --bind {DOWNLOADS}/apt {root}/var/cache/apt/archives
        mount --bind {DOWNLOADS}/pip {root}/var/cache/carvoice-pip
        touch {root}/tmp/host-ca.crt
        mount --bind /etc/ssl/certs/ca-certificates.crt {root}/tmp/host-ca.crt
        exec "$@"
    """
    env = dict(  # the chroot connection hands this environment on to the unit's commands: only what Ansible needs
        PATH=os.environ["PATH"],
        HOME=os.environ.get("HOME", "/root"),
        LANG="C.UTF-8",
        ANSIBLE_COLLECTIONS_PATH=str(community_general()),
        ANSIBLE_PYTHON_INTERPRETER="/usr/bin/python3",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_PIPELINING="1",
        ANSIBLE_LOCALHOST_WARNING="false",
    )
    playbook = [str(ANSIBLE_PLAYBOOK), "-i", f"{root},", "-c", "community.general.chroot", str(PLAYBOOK)]
    playbook += ["-e", f"allowed_signers={signers}", "-e", "keep_downloads=true"]
    playbook += ["-e", "pip_cache_dir=/var/cache/carvoice-pip", "-e", "pip_cert=/tmp/host-ca.crt"]
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-ec", script, "provision", *playbook],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr
    recap = re.search(rf"^{re.escape(str(root))}\s+:\s+(.*)$", done.stdout, re.MULTILINE)
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", recap.group(1))}, done.stdout


@pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason="needs ansible-core in .venv (scripts/setup --test)")
def test_provision_playbook_makes_a_debootstrap_root_a_unit_and_a_second_run_changes_nothing(tmp_path):
    needs_root()
    signers = allowed_signers(tmp_path)
    with fresh_root(tmp_path) as root:
        first, said = provision(root, signers)
        assert first["changed"] > 5 and first["failed"] == 0, said
        unit_files_in_place(root)
        assert (root / "etc/carvoice/allowed_signers").read_text() == signers.read_text()
        assert (root / "boot/firmware/config.txt").read_text() == hat_block()

        second, said = provision(root, signers)
        assert second["changed"] == 0 and second["failed"] == 0, said

        # the two tools make the same unit: install-unit has nothing to do on it
        again = subprocess.run(
            [str(ROOT / "scripts" / "install-unit"), "--root", str(root), "--allowed-signers", str(signers)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert (again.returncode, again.stdout, again.stderr) == (0, "", "")
