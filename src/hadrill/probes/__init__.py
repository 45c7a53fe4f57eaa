"""Probes sample a service in the background while a fault is injected; see :mod:`.sampler`."""

from __future__ import annotations

from hadrill.probes.sampler import History, Probe, Sample, Sampler

__all__ = ["History", "Probe", "Sample", "Sampler"]
