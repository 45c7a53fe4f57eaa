"""Verdicts taken after a fault: a new leader elected, a member caught up, leases moved, a VIP moved, a
node or server rejoined. Each check is one-shot (bounded polling), measured, and returned as a
:class:`hadrill.slo.Verdict`; ``Run.check`` keeps it and Chaos Toolkit exposes it as a probe."""
