"""The lab's SSH material: a private key nobody else can read, pinned host keys, URLs that carry paths
and never key material (inventories are shared and end up in reports)."""

from __future__ import annotations

import stat
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from testinfra.backend import parse_hostspec

from hadrill.lab.ssh import LabSsh


@pytest.fixture
def ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LabSsh:
    monkeypatch.setenv("HADRILL_STATE_DIR", str(tmp_path))
    return LabSsh("fleet")


def test_key_is_private_and_made_once(ssh: LabSsh) -> None:
    public = ssh.ensure_key()
    assert public.startswith("ssh-ed25519 ") and public.endswith("hadrill-lab-fleet")
    assert stat.S_IMODE(ssh.key.stat().st_mode) == 0o600
    assert stat.S_IMODE(ssh.dir.stat().st_mode) == 0o700
    assert ssh.ensure_key() == public  # a second lab up keeps the key the nodes trust


def test_config_pins_host_keys_strictly(ssh: LabSsh) -> None:
    ssh.ensure_key()
    text = ssh.config.read_text()
    assert f"IdentityFile {ssh.key}" in text
    assert f"UserKnownHostsFile {ssh.known_hosts}" in text
    assert "StrictHostKeyChecking yes" in text
    ssh.pin({"10.0.0.12": "ssh-ed25519 BBBB", "10.0.0.11": "ssh-ed25519 AAAA"})
    assert ssh.known_hosts.read_text() == "10.0.0.11 ssh-ed25519 AAAA\n10.0.0.12 ssh-ed25519 BBBB\n"
    assert stat.S_IMODE(ssh.known_hosts.stat().st_mode) == 0o600


def test_url_references_files_by_path_only(ssh: LabSsh) -> None:
    ssh.ensure_key()
    url = ssh.url("10.0.0.11")
    assert url.startswith("ssh://root@10.0.0.11?")
    query = parse_qs(urlparse(url).query)
    assert query == {"ssh_config": [str(ssh.config)], "ssh_identity_file": [str(ssh.key)]}
    assert ssh.key.read_text().split("\n")[1][:20] not in url  # no key material
    host, kw = parse_hostspec(url)  # what testinfra itself makes of it
    assert (host, kw["connection"], kw["ssh_config"]) == ("root@10.0.0.11", "ssh", str(ssh.config))


def test_remove_forgets_the_keys(ssh: LabSsh) -> None:
    ssh.ensure_key()
    ssh.remove()
    assert not ssh.dir.exists()
