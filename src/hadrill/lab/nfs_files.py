"""Files baked into the lab's NFS server image: ganesha's config and the scripts that start it.

The container's environment says who it is: ``SELF`` (its storage address), ``PEER`` (the other
server's), ``VIP`` (with its prefix), ``PRIORITY``, ``ADVERT`` (VRRPv3 advertisement interval, s).
The start script finds the storage interface by ``SELF`` (docker does not promise ``eth1``), writes
keepalived's config, removes pid files a ``docker kill`` leaves behind, starts rpcbind and ganesha,
starts the lab exporter (:mod:`hadrill.lab.exporter_files`: VIP held, keepalived and ganesha
running) and runs keepalived in the foreground. keepalived's notify script (:mod:`hadrill.lab.keepalived`)
keeps the VRRP state in ``STATE_FILE`` for ``hadrill lab status`` and the checks.
"""

from __future__ import annotations

from hadrill.lab.exporter_files import EXPORTER, EXPORTER_PATH, EXPORTER_PORT
from hadrill.lab.keepalived import NOTIFY_PATH, notify_script

__all__ = [
    "GANESHA_CONF",
    "GANESHA_START",
    "GANESHA_START_PATH",
    "NOTIFY",
    "SERVER_FILES",
    "START",
    "START_PATH",
    "STATE_FILE",
]

STATE_FILE = "/run/hadrill-nfs/vrrp.state"
START_PATH = "/usr/local/bin/hadrill-nfs-start"
GANESHA_START_PATH = "/usr/local/bin/hadrill-ganesha-start"

GANESHA_CONF = """\
NFS_CORE_PARAM {
    Protocols = 3, 4;
    NFS_Port = 2049;
    MNT_Port = 20048;
    Enable_NLM = false;
    Enable_RQUOTA = false;
    Enable_UDP = false;
    mount_path_pseudo = true;
}
NFSV4 {
    Grace_Period = 10;
    Lease_Lifetime = 10;
    Graceless = true;
}
EXPORT {
    Export_Id = 1;
    Path = /export;
    Pseudo = /export;
    Access_Type = RW;
    Squash = No_Root_Squash;
    SecType = sys;
    Protocols = 3, 4;
    Transports = TCP;
    FSAL { Name = VFS; }
}
"""

# Starts ganesha (daemonised) once: the entry script and the stop-nfs fault's revert both use it.
GANESHA_START = """\
#!/bin/sh
set -eu
pgrep -x ganesha.nfsd >/dev/null && exit 0
mkdir -p /run/ganesha /var/log/ganesha /var/lib/nfs/ganesha
rm -f /run/ganesha/ganesha.pid
exec ganesha.nfsd -L /var/log/ganesha/ganesha.log -f /etc/ganesha/ganesha.conf -N NIV_EVENT
"""

NOTIFY = notify_script(STATE_FILE)

START = """\
#!/bin/sh
set -eu
: "${SELF:?}" "${PEER:?}" "${VIP:?}" "${PRIORITY:=100}" "${ADVERT:=1}"
IFACE=""
for _ in $(seq 1 50); do  # bounded: docker attaches the networks before start, but be patient
    IFACE=$(ip -o -4 addr show | awk -v ip="$SELF" '{split($4, a, "/"); if (a[1] == ip) print $2}' | head -1)
    [ -n "$IFACE" ] && break
    sleep 0.1
done
[ -n "$IFACE" ] || { echo "no interface with address $SELF" >&2; exit 1; }
mkdir -p /etc/keepalived /run/hadrill-nfs
cat > /etc/keepalived/keepalived.conf <<EOC
global_defs {
    router_id $(hostname)
    enable_script_security
    script_user root
    vrrp_version 3
}
vrrp_script chk_ganesha {
    script "/usr/bin/pgrep -x ganesha.nfsd"
    interval 1
    fall 2
    rise 1
}
vrrp_instance VI_NFS {
    state BACKUP
    nopreempt
    interface $IFACE
    virtual_router_id 50
    priority $PRIORITY
    advert_int $ADVERT
    unicast_src_ip $SELF
    unicast_peer {
        $PEER
    }
    virtual_ipaddress {
        $VIP dev $IFACE
    }
    track_script {
        chk_ganesha
    }
    notify /usr/local/bin/hadrill-vrrp-notify
}
EOC
# stale pid/lock files survive 'docker kill' + 'docker start' and make the daemons refuse to start
rm -f /run/rpcbind.lock /run/rpcbind.sock /run/ganesha/ganesha.pid /run/keepalived.pid /run/vrrp.pid \\
    /run/checkers.pid /run/hadrill-nfs/vrrp.state
echo "$IFACE" > /run/hadrill-nfs/iface
rpcbind -w
/usr/local/bin/hadrill-ganesha-start
# what keepalived and ganesha expose no metrics for: the VIP on this node, the daemons running
@EXPORTER@ keepalived=proc:keepalived ganesha=proc:ganesha.nfsd "vip=addr:${VIP%/*}" &
exec keepalived --dont-fork --log-console
""".replace("@EXPORTER@", f"{EXPORTER_PATH} {EXPORTER_PORT}")

SERVER_FILES = {
    "/etc/ganesha/ganesha.conf": GANESHA_CONF,
    START_PATH: START,
    GANESHA_START_PATH: GANESHA_START,
    NOTIFY_PATH: NOTIFY,
    EXPORTER_PATH: EXPORTER,
}
