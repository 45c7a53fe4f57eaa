"""The kubeadm lab's etcd backup: a CronJob, as the seeds' clusters run it, that the ``etcd_backup``
compliance suite then checks (the CronJob's last success through the API, the snapshot file on the node).

Every minute (a real cluster's runs hourly or daily; a lab test must see one run), ``etcdctl snapshot
save`` from kubeadm's own etcd image, on the host network of the first master (pinned: the inventory
gives that node the ``etcd-backup`` role, so the file check knows where to look), with the etcd
client certificate kubeadm made for health checks, into ``/var/backups/etcd/etcd-snapshot.db`` on the
node (``etcdctl`` writes ``.part`` and renames it: a reader never sees half a snapshot). The image has
no shell, so one file is overwritten each run: its age is the age of the newest backup.
"""

from __future__ import annotations

from typing import Any

from hadrill.clients.kube import KubeApi

__all__ = ["BACKUP_CRONJOB", "BACKUP_DIR", "BACKUP_SCHEDULE", "backup_cronjob", "deploy_backup"]

BACKUP_CRONJOB = "kube-system/etcd-backup"
BACKUP_DIR = "/var/backups/etcd"
BACKUP_SCHEDULE = "* * * * *"
_PKI = "/etc/kubernetes/pki/etcd"


def backup_cronjob(etcd_image: str, node: str) -> dict[str, Any]:
    """The CronJob: one run at a time, bounded (60 s a try, 2 retries), pinned to ``node``."""
    ns, name = BACKUP_CRONJOB.split("/")
    command = [
        "etcdctl", "--endpoints=https://127.0.0.1:2379", f"--cacert={_PKI}/ca.crt",
        f"--cert={_PKI}/healthcheck-client.crt", f"--key={_PKI}/healthcheck-client.key", "--command-timeout=50s",
        "snapshot", "save", f"{BACKUP_DIR}/etcd-snapshot.db",
    ]  # fmt: skip
    pod = {
        "restartPolicy": "Never", "hostNetwork": True, "nodeSelector": {"kubernetes.io/hostname": node},
        "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}],
        "containers": [{
            "name": "etcdctl", "image": etcd_image, "imagePullPolicy": "Never", "command": command,
            "volumeMounts": [{"name": "etcd-certs", "mountPath": _PKI, "readOnly": True},
                             {"name": "backup", "mountPath": BACKUP_DIR}],
        }],
        "volumes": [{"name": "etcd-certs", "hostPath": {"path": _PKI, "type": "Directory"}},
                    {"name": "backup", "hostPath": {"path": BACKUP_DIR, "type": "DirectoryOrCreate"}}],
    }  # fmt: skip
    return {
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name, "namespace": ns},
        "spec": {
            "schedule": BACKUP_SCHEDULE, "concurrencyPolicy": "Forbid", "startingDeadlineSeconds": 50,
            "successfulJobsHistoryLimit": 2, "failedJobsHistoryLimit": 2,
            "jobTemplate": {"spec": {"backoffLimit": 2, "activeDeadlineSeconds": 180,
                                     "template": {"spec": pod}}},
        },
    }  # fmt: skip


def deploy_backup(api: KubeApi, etcd_image: str, node: str) -> None:
    """Create the CronJob unless it exists (``lab up`` twice changes nothing)."""
    ns = BACKUP_CRONJOB.split("/")[0]
    api.create(f"/apis/batch/v1/namespaces/{ns}/cronjobs", backup_cronjob(etcd_image, node))
