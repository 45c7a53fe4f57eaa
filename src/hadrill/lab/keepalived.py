"""keepalived as the lab runs it wherever a pair of servers shares a virtual IP (the NFS servers, the
kubeadm lab's API load balancers): one configuration and one notify script for all of them.

VRRPv3 over unicast (the peers' addresses: no multicast on a Docker bridge), ``state BACKUP`` with
``nopreempt`` on both (a failed server that comes back joins as BACKUP and the VIP stays where it is),
and a track script on the served process (``pgrep -x``: a server whose service died gives the VIP up
after ``fall`` checks). The notify script keeps the VRRP state in a file for the harness's reads
(:func:`hadrill.clients.nfs.server_state`).
"""

from __future__ import annotations

__all__ = ["KEEPALIVED_DROPIN", "KEEPALIVED_DROPIN_PATH", "NOTIFY_PATH", "keepalived_conf", "notify_script"]

NOTIFY_PATH = "/usr/local/bin/hadrill-vrrp-notify"
# On a systemd host: Debian ships keepalived's unit with no restart policy; a production host gives it one.
KEEPALIVED_DROPIN_PATH = "/etc/systemd/system/keepalived.service.d/hadrill.conf"
KEEPALIVED_DROPIN = """\
[Service]
Restart=on-failure
RestartSec=1
"""


def notify_script(state_file: str) -> str:
    """keepalived's notify script: writes ``STATE PRIORITY TIME`` to ``state_file`` atomically."""
    folder, tmp = state_file.rsplit("/", 1)[0], f"{state_file}.tmp"
    return f"""\
#!/bin/sh
# keepalived notify: $1=INSTANCE|GROUP $2=name $3=MASTER|BACKUP|FAULT|STOP $4=priority
mkdir -p {folder}
echo "$3 $4 $(date +%s.%N)" > {tmp}
mv {tmp} {state_file}
"""


def keepalived_conf(
    router_id: str, iface: str, self_ip: str, peer_ip: str, vip: str, priority: int, advert: float, *,
    track: str = "ganesha.nfsd", instance: str = "VI_NFS", router: int = 50,
) -> str:  # fmt: skip
    """keepalived's configuration for one of a pair: ``vip`` (with its prefix) on ``iface`` while this
    server is MASTER and ``track`` (a process name) runs; ``router`` is the VRRP router id, one per pair."""
    check = "chk_" + track.split(".")[0].replace("-", "_")
    return f"""\
global_defs {{
    router_id {router_id}
    enable_script_security
    script_user root
    vrrp_version 3
}}
vrrp_script {check} {{
    script "/usr/bin/pgrep -x {track}"
    interval 1
    fall 2
    rise 1
}}
vrrp_instance {instance} {{
    state BACKUP
    nopreempt
    interface {iface}
    virtual_router_id {router}
    priority {priority}
    advert_int {advert:g}
    unicast_src_ip {self_ip}
    unicast_peer {{
        {peer_ip}
    }}
    virtual_ipaddress {{
        {vip} dev {iface}
    }}
    track_script {{
        {check}
    }}
    notify {NOTIFY_PATH}
}}
"""
