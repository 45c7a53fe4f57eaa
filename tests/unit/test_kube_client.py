"""One Kubernetes client builder (:func:`hadrill.clients.kube.kube_api`) for every part of hadrill: for one
inventory, ``hadrill check`` and ``hadrill drill`` must reach the same cluster, the one ``settings.context``
names (the compliance builder used to ignore it and take the kubeconfig's current context)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from hadrill.clients.kube import kube_api
from hadrill.errors import ConfigError, TargetError
from hadrill.inventory import Cluster, Member, TLSFiles

PEM = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nnot checked here\n-----END CERTIFICATE-----\n").decode()


def _cluster(settings: dict[str, Any], tls: TLSFiles | None = None) -> Cluster:
    return Cluster(
        name="kubernetes", type="kubernetes", members=[Member(name="m1", node="m1")], failure_budget=0,
        tls=tls, settings=settings,
    )  # fmt: skip


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    """Two contexts on two servers; the current one is ``kind-a``."""
    users = [{"name": n, "user": {"client-certificate-data": PEM, "client-key-data": PEM}} for n in ("ua", "ub")]
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "kind-a",
        "clusters": [
            {"name": "a", "cluster": {"server": "https://10.0.0.1:6443", "certificate-authority-data": PEM}},
            {"name": "b", "cluster": {"server": "https://10.0.0.2:6443", "certificate-authority-data": PEM}},
        ],
        "users": users,
        "contexts": [
            {"name": "kind-a", "context": {"cluster": "a", "user": "ua"}},
            {"name": "kind-b", "context": {"cluster": "b", "user": "ub"}},
        ],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_the_inventorys_context_picks_the_server(kubeconfig: Path) -> None:
    api = kube_api(_cluster({"kubeconfig": str(kubeconfig), "context": "kind-b"}), timeout=3.0)
    assert api.server == "https://10.0.0.2:6443"
    assert api.timeout == 3.0
    assert Path(api.tls.cert).read_text().startswith("-----BEGIN CERTIFICATE-----")


def test_without_a_context_the_current_context_is_used(kubeconfig: Path) -> None:
    assert kube_api(_cluster({"kubeconfig": str(kubeconfig)})).server == "https://10.0.0.1:6443"


def test_the_labs_api_address_and_tls_files_come_first(kubeconfig: Path) -> None:
    tls = TLSFiles(ca="/pki/ca.crt", cert="/pki/admin.crt", key="/pki/admin.key")
    api = kube_api(_cluster({"api": "https://10.213.7.100:6443", "kubeconfig": str(kubeconfig)}, tls))
    assert (api.server, api.tls) == ("https://10.213.7.100:6443", tls)


def test_an_unknown_context_is_a_target_error_naming_the_kubeconfig(kubeconfig: Path) -> None:
    with pytest.raises(TargetError, match=str(kubeconfig)):
        kube_api(_cluster({"kubeconfig": str(kubeconfig), "context": "kind-c"}))


def test_neither_api_nor_kubeconfig_is_bad_input() -> None:
    with pytest.raises(ConfigError, match=r"clusters\[kubernetes\]\.settings"):
        kube_api(_cluster({}))
