"""keepalived's configuration and notify script, shared by the NFS servers and the API load balancers."""

from __future__ import annotations

from hadrill.lab.keepalived import keepalived_conf, notify_script


def test_load_balancer_pair_tracks_haproxy_with_its_own_router_id() -> None:
    conf = keepalived_conf(
        "lb1", "eth0", "10.0.0.108", "10.0.0.109", "10.0.0.100/24", 110, 1.0,
        track="haproxy", instance="VI_KUBE_API", router=51,
    )  # fmt: skip
    lines = [line.strip() for line in conf.splitlines()]
    for wanted in (
        'script "/usr/bin/pgrep -x haproxy"', "vrrp_instance VI_KUBE_API {", "virtual_router_id 51",
        "priority 110", "advert_int 1", "nopreempt", "state BACKUP", "unicast_src_ip 10.0.0.108",
        "10.0.0.109", "10.0.0.100/24 dev eth0", "chk_haproxy", "vrrp_version 3",
    ):  # fmt: skip
        assert wanted in lines, (wanted, conf)
    assert "ganesha" not in conf


def test_nfs_defaults_are_the_nfs_servers_settings() -> None:
    conf = keepalived_conf("nfs-1", "eth1", "10.1.0.21", "10.1.0.22", "10.1.0.20/24", 100, 0.5)
    assert 'script "/usr/bin/pgrep -x ganesha.nfsd"' in conf
    assert "virtual_router_id 50" in conf and "advert_int 0.5" in conf and "vrrp_instance VI_NFS {" in conf


def test_notify_script_writes_the_state_file_atomically() -> None:
    script = notify_script("/run/hadrill-lb/vrrp.state")
    assert script.splitlines()[-3:] == [
        "mkdir -p /run/hadrill-lb",
        'echo "$3 $4 $(date +%s.%N)" > /run/hadrill-lb/vrrp.state.tmp',
        "mv /run/hadrill-lb/vrrp.state.tmp /run/hadrill-lb/vrrp.state",
    ]
