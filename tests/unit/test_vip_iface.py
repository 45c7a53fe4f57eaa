"""Which interface carries the VIP, read from ``ip -o -4 addr show up`` (the link-down fault downs it)."""

from __future__ import annotations

from hadrill.clients.nfs import iface_carrying

# a lab server holding the VIP 10.88.0.100 as a second address on eth0 (iproute2's one-line format)
HOLDER = """\
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
2: eth0    inet 10.88.0.11/24 brd 10.88.0.255 scope global eth0\\       valid_lft forever preferred_lft forever
2: eth0    inet 10.88.0.100/32 scope global eth0\\       valid_lft forever preferred_lft forever
3: eth1    inet 10.89.0.11/24 brd 10.89.0.255 scope global eth1\\       valid_lft forever preferred_lft forever
"""


def test_the_interface_whose_address_is_the_vip() -> None:
    assert iface_carrying(HOLDER, "10.88.0.100") == "eth0"
    assert iface_carrying(HOLDER, "10.89.0.11") == "eth1"


def test_a_prefix_of_an_address_or_a_broadcast_is_not_the_vip() -> None:
    assert iface_carrying(HOLDER, "10.88.0.1") is None  # 10.88.0.11 and 10.88.0.100 only begin with it
    assert iface_carrying(HOLDER, "10.88.0.255") is None  # a broadcast, not an address
    assert iface_carrying("", "10.88.0.100") is None
