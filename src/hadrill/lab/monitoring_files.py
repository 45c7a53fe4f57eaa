"""The files of the lab's monitoring image: Prometheus's and Alertmanager's configuration, the alert
rules, and the script that starts the five daemons.

The rules are shipped in the image (``/etc/prometheus/rules/*.yml``); the targets, which depend on the
lab's subnet, are written at start from ``$HADRILL_SCRAPE_TARGETS`` and ``$HADRILL_PROBE_TARGETS``
(file_sd JSON documents) so one image serves every lab.
"""

from __future__ import annotations

__all__ = [
    "ALERTMANAGER_YML", "BLACKBOX_KUBE_YML", "BLACKBOX_YML", "ENTRYPOINT", "KUBE_JOBS_YML", "KUBE_TLS_DIR",
    "LAB_RULES", "PROMETHEUS_YML", "RESULTS_RULES",
]  # fmt: skip

# Why these intervals: a lab fault lasts seconds, not the minutes a production rule waits for. The
# physical floor of detection is scrape interval + evaluation interval + ``for`` (1 + 1 + 2 = 4 s here);
# production keeps 15-60 s intervals and ``for: 1m``-``5m``. The scrape timeout equals the interval: a
# killed member's address stops answering, and its scrape fails one second later.
PROMETHEUS_YML = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - /etc/prometheus/rules/*.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:9093"]
scrape_configs:
  - job_name: prometheus
    static_configs: [{targets: ["127.0.0.1:9090"]}]
  - job_name: alertmanager
    static_configs: [{targets: ["127.0.0.1:9093"]}]
  - job_name: node
    static_configs: [{targets: ["127.0.0.1:9100"]}]
  - job_name: pushgateway
    honor_labels: true
    static_configs: [{targets: ["127.0.0.1:9091"]}]
  - job_name: lab
    file_sd_configs:
      - files: [/etc/prometheus/targets/*.json]
        refresh_interval: 5s
  # what serves no metrics a lab can read (the API servers want a client certificate for /metrics):
  # the blackbox exporter connects to each address, probe_success says whether it accepted
  - job_name: lab-probe
    metrics_path: /probe
    params: {module: [tcp_connect]}
    file_sd_configs:
      - files: [/etc/prometheus/probes/*.json]
        refresh_interval: 5s
    relabel_configs:
      - {source_labels: [__address__], target_label: __param_target}
      - {source_labels: [__address__], target_label: instance}
      - {target_label: __address__, replacement: "127.0.0.1:9115"}
"""

KUBE_TLS_DIR = "/etc/prometheus/kube"  # the lab's client certificate for Kubernetes (mounted read-only)

# Appended to the configuration when the lab has Kubernetes: /metrics over TLS with the lab's client
# certificate (CN hadrill-prometheus, group system:monitoring: the API server's own role of that name
# allows GET /metrics; the kubeadm lab binds a role allowing nodes/metrics on the kubelets). Every 5 s,
# not 1 s: an API server's /metrics is megabytes, and the TCP probe above already sees it die in 1 s.
# A kubelet serves with a certificate it signed itself (kubeadm's default: no serverTLSBootstrap), so
# there is no CA to check it against: only the client side is authenticated, as in most clusters.
KUBE_JOBS_YML = f"""\
  - job_name: kube-apiserver
    scheme: https
    scrape_interval: 5s
    scrape_timeout: 5s
    tls_config:
      ca_file: {KUBE_TLS_DIR}/ca.crt
      cert_file: {KUBE_TLS_DIR}/client.crt
      key_file: {KUBE_TLS_DIR}/client.key
    file_sd_configs:
      - files: [/etc/prometheus/kube-apiserver/*.json]
        refresh_interval: 5s
  # /readyz of every API server, through the blackbox exporter with the same certificate (the
  # system:monitoring role allows /readyz too): an API server whose etcd is gone accepts connections and
  # answers nothing, which the TCP probe above calls alive and its users call down
  - job_name: kube-apiserver-ready
    metrics_path: /probe
    params: {{module: [kube_readyz]}}
    file_sd_configs:
      - files: [/etc/prometheus/kube-apiserver/*.json]
        refresh_interval: 5s
    relabel_configs:
      - {{source_labels: [__address__], target_label: __param_target, replacement: "https://${{1}}/readyz"}}
      - {{source_labels: [__address__], target_label: instance}}
      - {{target_label: __address__, replacement: "127.0.0.1:9115"}}
  - job_name: kubelet
    scheme: https
    scrape_interval: 5s
    scrape_timeout: 5s
    tls_config:
      insecure_skip_verify: true
      cert_file: {KUBE_TLS_DIR}/client.crt
      key_file: {KUBE_TLS_DIR}/client.key
    file_sd_configs:
      - files: [/etc/prometheus/kubelet/*.json]
        refresh_interval: 5s
"""

# The blackbox exporter gives a probe the scrape timeout less 0.5 s: a live address in the lab accepts in
# milliseconds, a killed one never does.
BLACKBOX_YML = """\
modules:
  tcp_connect:
    prober: tcp
    timeout: 1s
"""

# Appended to the blackbox configuration when the lab has Kubernetes (the CA and certificate exist then):
# GET /readyz with the monitoring's certificate, 200 or it failed (0.5 s: the scrape timeout less 0.5 s).
BLACKBOX_KUBE_YML = f"""\
  kube_readyz:
    prober: http
    timeout: 1s
    http:
      valid_status_codes: [200]
      fail_if_not_ssl: true
      tls_config:
        ca_file: {KUBE_TLS_DIR}/ca.crt
        cert_file: {KUBE_TLS_DIR}/client.crt
        key_file: {KUBE_TLS_DIR}/client.key
"""

# No receiver integration: on-call paging is not the lab's to do. The API lists what it received at once;
# group_wait only delays notifications, which a lab has none of.
ALERTMANAGER_YML = """\
route:
  receiver: lab
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: lab
"""

# ``for: 2s``: two evaluations in a row see the condition, so one lost scrape never pages, while a
# member down for the few seconds a lab fault lasts still does. The ``job`` of every lab target is
# ``lab`` (``lab-probe`` for TCP probes) and its ``service`` label says what it is (etcd, nfs, ...).
# NFS and Gluster servers are read through the lab exporter (hadrill_lab_check, lab/exporter_files.py);
# a server whose exporter does not answer counts as down (``or on(instance) up == 0``): a killed server
# runs no daemon. NfsVipOnNoNode waits ``for: 10s``: during a failover no node holds the VIP by design
# (keepalived: 3 x advert_int + skew, 3.5 s measured, 6 s at most in nfs-fail-vip.yaml), so it pages only
# when the failover itself failed; 10 s > 6 s + one scrape + one evaluation.
LAB_RULES = """\
groups:
  - name: hadrill-lab
    rules:
      - alert: EtcdMemberDown
        expr: up{service="etcd"} == 0
        for: 2s
        labels: {severity: critical}
        annotations: {summary: "etcd member {{ $labels.instance }} is not answering its scrape"}
      - alert: EtcdNoLeader
        expr: etcd_server_has_leader{service="etcd"} == 0
        for: 2s
        labels: {severity: critical}
        annotations: {summary: "etcd member {{ $labels.instance }} has no leader"}
      - alert: EtcdInsufficientMembers
        expr: sum(up{service="etcd"}) < floor(count(up{service="etcd"}) / 2) + 1
        for: 2s
        labels: {severity: critical}
        annotations: {summary: "etcd has lost quorum"}
      - alert: EtcdLeaderChanged
        expr: increase(etcd_server_leader_changes_seen_total{service="etcd"}[30s]) > 0
        labels: {severity: warning}
        annotations: {summary: "etcd member {{ $labels.instance }} saw a leader change in the last 30 s"}
      - alert: KeepalivedDown
        expr: hadrill_lab_check{service="nfs", check="keepalived"} == 0 or on(instance) up{service="nfs"} == 0
        for: 2s
        labels: {severity: critical}
        annotations: {summary: "keepalived on NFS server {{ $labels.instance }} is not running"}
      - alert: NfsGaneshaDown
        # the server answers its scrape (the node and its exporter run) but no nfs-ganesha does: on the
        # VIP holder, clients hang until keepalived's track script gives the VIP up (2 failed checks, 1 s
        # apart); on the backup, the next failover has nowhere to go. A killed server's series are stale
        # and match nothing here: a dead node is KeepalivedDown and TargetDown, not this
        expr: hadrill_lab_check{service="nfs", check="ganesha"} == 0
        for: 2s
        labels: {severity: critical}
        annotations: {summary: "nfs-ganesha is not running on NFS server {{ $labels.instance }}, which is up"}
      - alert: NfsVipOnNoNode
        # a server whose exporter does not answer holds no VIP (its series are stale: 0 stands in)
        expr: max(hadrill_lab_check{service="nfs", check="vip"} or on(instance) (up{service="nfs"} * 0)) == 0
        for: 10s
        labels: {severity: critical}
        annotations: {summary: "the NFS virtual IP is on no server"}
      - alert: GlusterBrickDown
        expr: hadrill_lab_check{service="gluster", check="brick"} == 0 or on(instance) up{service="gluster"} == 0
        for: 2s
        labels: {severity: critical}
        annotations: {summary: "the Gluster brick on {{ $labels.instance }} is not running"}
      - alert: KubeApiServerDown
        # either probe: the TCP connect (lab-probe) or, with the lab's certificate, /readyz
        # (kube-apiserver-ready): a server that accepts connections but is not ready is down for its users
        expr: probe_success{service="kube-apiserver"} == 0
        for: 2s
        labels: {severity: critical}
        annotations:
          summary: "API server {{ $labels.instance }} refuses connections or is not ready ({{ $labels.job }})"
      - alert: KubeletDown
        # the kubelets are scraped every 5 s (monitoring_files.KUBE_JOBS_YML): ``for: 6s`` outlasts one
        # scrape interval, so one lost scrape whose next one answers never pages
        expr: up{job="kubelet"} == 0
        for: 6s
        labels: {severity: critical}
        annotations: {summary: "the kubelet on {{ $labels.instance }} does not answer its scrape"}
      - alert: TargetDown
        expr: up{job="lab"} == 0
        for: 2s
        labels: {severity: warning}
        annotations: {summary: "{{ $labels.service }} target {{ $labels.instance }} is down"}
"""

# hadrill's own results (pushed to the Pushgateway or written for a textfile collector): the
# exercise-level alerts an auditor asks for. ``for`` is 0: these series change once a run.
RESULTS_RULES = """\
groups:
  - name: hadrill-results
    rules:
      - alert: PraExerciseOverdue
        # absent(): no exercise ever recorded is overdue too
        expr: (time() - max(hadrill_drill_timestamp_seconds) > 365 * 86400) or absent(hadrill_drill_timestamp_seconds)
        labels: {severity: warning}
        annotations: {summary: "no PRA (disaster-recovery) exercise in 365 days"}
      - alert: NightlyGateFailed
        expr: min by (plan) (hadrill_drill_passed{plan=~".*nightly.*"}) == 0
        labels: {severity: critical}
        annotations: {summary: "the nightly gate {{ $labels.plan }} failed"}
"""

ENTRYPOINT = """\
#!/bin/bash
# Starts the five daemons; the container stops when one of them does (docker restarts nothing silently).
set -eu
mkdir -p /etc/prometheus/targets /etc/prometheus/probes /var/lib/prometheus/metrics2 \
  /var/lib/prometheus/node-exporter /var/lib/alertmanager
printf '%s' "${HADRILL_SCRAPE_TARGETS:-[]}" > /etc/prometheus/targets/lab.json.tmp
mv /etc/prometheus/targets/lab.json.tmp /etc/prometheus/targets/lab.json
printf '%s' "${HADRILL_PROBE_TARGETS:-[]}" > /etc/prometheus/probes/lab.json.tmp
mv /etc/prometheus/probes/lab.json.tmp /etc/prometheus/probes/lab.json
cp /etc/prometheus/prometheus.yml /run/prometheus.yml
cp /etc/prometheus/hadrill-blackbox.yml /run/blackbox.yml
if [ -n "${HADRILL_APISERVER_TARGETS:-}${HADRILL_KUBELET_TARGETS:-}" ]; then
  # Kubernetes: its jobs, and Prometheus starts once the lab has written the client certificate (the CA
  # it is signed by may exist only after kubeadm init; Prometheus reads the CA file when it loads a job)
  mkdir -p /etc/prometheus/kube-apiserver /etc/prometheus/kubelet
  printf '%s' "${HADRILL_APISERVER_TARGETS:-[]}" > /etc/prometheus/kube-apiserver/lab.json
  printf '%s' "${HADRILL_KUBELET_TARGETS:-[]}" > /etc/prometheus/kubelet/lab.json
  cat /etc/prometheus/hadrill-kube-jobs.yml >> /run/prometheus.yml
  cat /etc/prometheus/hadrill-blackbox-kube.yml >> /run/blackbox.yml
fi
prometheus-node-exporter --collector.textfile.directory=/var/lib/prometheus/node-exporter &
prometheus-pushgateway --web.listen-address=:9091 &
prometheus-blackbox-exporter --config.file=/run/blackbox.yml --web.listen-address=127.0.0.1:9115 &
prometheus-alertmanager --config.file=/etc/prometheus/alertmanager.yml \
  --storage.path=/var/lib/alertmanager --cluster.listen-address= &
if [ -n "${HADRILL_APISERVER_TARGETS:-}${HADRILL_KUBELET_TARGETS:-}" ]; then  # bounded: 10 min
  for i in $(seq 600); do [ -s /etc/prometheus/kube/client.crt ] && break; sleep 1; done
fi
prometheus --config.file=/run/prometheus.yml --storage.tsdb.path=/var/lib/prometheus/metrics2 \
  --storage.tsdb.retention.time=1d --web.enable-lifecycle --web.listen-address=:9090 &
wait -n
exit 1
"""
