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
    assert Path(api.credentials.cert_file).read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert api.where == "cluster kubernetes (context kind-b)"


def test_without_a_context_the_current_context_is_used(kubeconfig: Path) -> None:
    assert kube_api(_cluster({"kubeconfig": str(kubeconfig)})).server == "https://10.0.0.1:6443"


def test_the_kubeconfig_comes_first_then_the_api_address_and_tls_files(kubeconfig: Path) -> None:
    tls = TLSFiles(ca="/pki/ca.crt", cert="/pki/admin.crt", key="/pki/admin.key")
    both = kube_api(_cluster({"api": "https://10.213.7.100:6443", "kubeconfig": str(kubeconfig)}, tls))
    assert both.server == "https://10.0.0.1:6443"
    api = kube_api(_cluster({"api": "https://10.213.7.100:6443"}, tls))
    assert (api.server, api.tls) == ("https://10.213.7.100:6443", tls)


def test_insecure_skip_tls_verify_is_refused_unless_the_inventory_asks(kubeconfig: Path) -> None:
    doc = yaml.safe_load(kubeconfig.read_text())
    doc["clusters"][0]["cluster"]["insecure-skip-tls-verify"] = True
    kubeconfig.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match=r"settings\.insecure_skip_tls_verify"):
        kube_api(_cluster({"kubeconfig": str(kubeconfig)}))
    assert kube_api(_cluster({"kubeconfig": str(kubeconfig), "insecure_skip_tls_verify": True})).server


def test_a_missing_exec_plugin_is_one_line_naming_cluster_and_context(kubeconfig: Path) -> None:
    doc = yaml.safe_load(kubeconfig.read_text())
    doc["users"][1]["user"] = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "no-such-x"}}
    kubeconfig.write_text(yaml.safe_dump(doc))
    with pytest.raises(TargetError, match=r"^cluster kubernetes \(context kind-b\): the exec credential plugin is"):
        kube_api(_cluster({"kubeconfig": str(kubeconfig), "context": "kind-b"}))


def test_an_unknown_context_is_a_target_error_naming_the_kubeconfig(kubeconfig: Path) -> None:
    with pytest.raises(TargetError, match=str(kubeconfig)):
        kube_api(_cluster({"kubeconfig": str(kubeconfig), "context": "kind-c"}))


def test_neither_api_nor_kubeconfig_nor_a_pod_is_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ConfigError, match=r"clusters\[kubernetes\]\.settings"):
        kube_api(_cluster({}))


@pytest.mark.parametrize(
    ("url", "no_proxy", "bypass"),
    [  # worked by hand from the NO_PROXY rules curl, Go and the official Python client share
        ("https://10.213.156.100:6443", "10.0.0.0/8", True),  # an address inside a CIDR
        ("https://10.213.156.100:6443", "10.213.156.100", True),  # the address itself (a /32)
        ("https://10.213.156.100:6443", "example.invalid", False),
        ("https://10.213.156.100:6443", "10.213.157.0/24", False),
        ("https://[fd00::1]:6443", "fd00::/8", True),
        ("https://api.example.com:6443", ".example.com", True),  # a domain suffix, leading dot or not
        ("https://api.example.com:6443", "example.com", True),
        ("https://notexample.com:6443", "example.com", False),  # a suffix at a label boundary only
        ("https://api.example.com:6443", "api.example.com:6443", True),  # host:port
        ("https://api.example.com:6443", "api.example.com:443", False),
        ("https://api.example.com:6443", "other.org, API.EXAMPLE.COM", True),  # a list, case and spaces
        ("https://api.example.com:6443", "*", True),
        ("https://api.example.com:6443", " , ", False),
    ],
)
def test_no_proxy_names_the_server(url: str, no_proxy: str, bypass: bool) -> None:
    from hadrill.clients.kube import _bypasses

    assert _bypasses(url, no_proxy) is bypass
