"""An image's tag is a hash of its recipe: equal recipes share a tag, any real change gets a new one."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hadrill.lab import images
from hadrill.lab.etcd import ETCD_IMAGE
from hadrill.lab.images import ImageSpec

FAST = settings(max_examples=200, deadline=None)
BASE = ImageSpec(
    name="etcd",
    packages=("etcd-server", "etcd-client", "iptables"),
    files={"/usr/local/bin/run.sh": "#!/bin/sh\nexec etcd\n", "/etc/hadrill.conf": "x=1\n"},
    dockerfile=("ENV A=1", 'CMD ["/usr/local/bin/run.sh"]'),
)


def _spec(**changes: Any) -> ImageSpec:
    return dataclasses.replace(BASE, **changes)


def test_tag_is_twelve_hex() -> None:
    assert re.fullmatch(r"[0-9a-f]{12}", BASE.tag)


def test_ref_format() -> None:
    assert BASE.ref == f"hadrill/etcd:{BASE.tag}"
    assert re.fullmatch(r"hadrill/etcd:[0-9a-f]{12}", BASE.ref)


def test_shipped_etcd_image_ref() -> None:
    assert re.fullmatch(r"hadrill/etcd:[0-9a-f]{12}", ETCD_IMAGE.ref)
    assert ETCD_IMAGE.suite == "bookworm"


def test_same_inputs_same_tag() -> None:
    assert _spec().tag == BASE.tag
    assert _spec().tag == _spec().tag
    assert _spec() == BASE


def test_package_order_irrelevant() -> None:
    assert _spec(packages=tuple(reversed(BASE.packages))).tag == BASE.tag
    assert _spec(packages=("iptables", "etcd-server", "etcd-client")).tag == BASE.tag


def test_files_insertion_order_irrelevant() -> None:
    assert _spec(files=dict(reversed(list(BASE.files.items())))).tag == BASE.tag


def test_name_changes_ref_not_tag() -> None:
    other = _spec(name="nfs")
    assert other.tag == BASE.tag  # the tag hashes what is inside, the name says which repository
    assert other.ref == f"hadrill/nfs:{BASE.tag}"
    assert other.ref != BASE.ref


@pytest.mark.parametrize(
    "changes",
    [
        {"packages": (*BASE.packages, "procps")},
        {"packages": BASE.packages[:-1]},
        {"packages": ("etcd-server", "etcd-client", "nftables")},
        {"files": {**BASE.files, "/etc/new": ""}},
        {"files": {**BASE.files, "/etc/hadrill.conf": "x=2\n"}},
        {"files": {"/etc/other.conf" if k == "/etc/hadrill.conf" else k: v for k, v in BASE.files.items()}},
        {"files": {}},
        {"dockerfile": (*BASE.dockerfile, "USER nobody")},
        {"dockerfile": tuple(reversed(BASE.dockerfile))},  # Dockerfile lines are ordered
        {"dockerfile": ()},
        {"suite": "trixie"},
    ],
    ids=[
        "add-package",
        "drop-package",
        "swap-package",
        "add-file",
        "file-content",
        "file-path",
        "no-files",
        "add-dockerfile-line",
        "dockerfile-order",
        "no-dockerfile",
        "suite",
    ],
)
def test_tag_changes_with_recipe(changes: dict[str, Any]) -> None:
    assert _spec(**changes).tag != BASE.tag


def test_tag_changes_with_recipe_version(monkeypatch: pytest.MonkeyPatch) -> None:
    before = BASE.tag
    monkeypatch.setattr(images, "_RECIPE_VERSION", images._RECIPE_VERSION + "-next")
    assert BASE.tag != before


package_names = st.from_regex(r"[a-z0-9][a-z0-9+.-]{0,15}", fullmatch=True)
package_sets = st.lists(package_names, min_size=1, max_size=8, unique=True)
file_maps = st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=40), max_size=4)


@FAST
@given(packages=package_sets, files=file_maps, dockerfile=st.lists(st.text(max_size=20), max_size=4), data=st.data())
def test_tag_stable_under_reordering(
    packages: list[str], files: dict[str, str], dockerfile: list[str], data: st.DataObject
) -> None:
    spec = ImageSpec(name="x", packages=tuple(packages), files=files, dockerfile=tuple(dockerfile))
    shuffled = data.draw(st.permutations(packages))
    reordered_files = dict(data.draw(st.permutations(list(files.items()))))
    again = ImageSpec(name="x", packages=tuple(shuffled), files=reordered_files, dockerfile=tuple(dockerfile))
    assert again.tag == spec.tag
    assert re.fullmatch(r"hadrill/x:[0-9a-f]{12}", spec.ref)


@FAST
@given(a=package_sets, b=package_sets)
def test_different_package_sets_different_tags(a: list[str], b: list[str]) -> None:
    same = set(a) == set(b)
    assert (ImageSpec(name="x", packages=tuple(a)).tag == ImageSpec(name="x", packages=tuple(b)).tag) == same


@FAST
@given(files=file_maps, path=st.text(min_size=1, max_size=20), content=st.text(max_size=40))
def test_any_file_change_changes_tag(files: dict[str, str], path: str, content: str) -> None:
    changed = {**files, path: content}
    before = ImageSpec(name="x", packages=("a",), files=files).tag
    assert (ImageSpec(name="x", packages=("a",), files=changed).tag == before) == (changed == files)
