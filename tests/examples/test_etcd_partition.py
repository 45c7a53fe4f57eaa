"""A test you can copy: partition an etcd follower while probes write, then assert the objectives.

Run it against the offline lab (brought up for the session, taken down after)::

    pytest tests/examples --hadrill-lab auto

or against your own platform, described by an inventory file::

    pytest tests/examples --hadrill-inventory my-platform.yaml

What it uses from hadrill's pytest plugin:

- ``hadrill_inventory``: the platform (clusters, members, nodes) from the inventory;
- ``hadrill_run``: one run per test; probes sample every 100 ms in the background, ``run.fault(...)``
  injects a fault for the ``with`` block and always reverts it (a deadman in the target reverts it
  too if this process dies), and the journal is written at teardown.
"""

from __future__ import annotations

import time

import pytest

from hadrill.faults.etcd import partition_member, pick_member
from hadrill.recovery.etcd import member_refuses_writes

pytestmark = [pytest.mark.chaos, pytest.mark.slo]


def test_majority_keeps_writing_while_a_follower_is_partitioned(hadrill_run, hadrill_inventory):
    etcd = hadrill_inventory.cluster("etcd")
    follower = pick_member(hadrill_inventory, etcd, "follower")
    hadrill_run.start_etcd_probes("etcd", probes=("write", "read"))
    time.sleep(1)  # a little steady state before the fault, for the timeline

    with hadrill_run.fault(partition_member(hadrill_inventory, etcd, follower, time_limit=60)):
        time.sleep(3)  # the fault holds while probes keep writing through the majority
        refused = hadrill_run.check(member_refuses_writes(etcd, follower))
        assert refused.ok, refused.detail  # no split brain: the isolated member accepts nothing

    hadrill_run.stop_probes(settle=2)
    # availability, judged from the partition to 5 s after its revert started: a client stuck on the cut
    # member waits out its 1 s timeout before moving on (~11 bad samples of ~90), as in
    # experiments/etcd-partition-member.yaml
    hadrill_run.assert_objectives(max_outage_s=3.0, availability=0.85, acked_writes_lost=0, steady_state_s=5.0)
