"""The offline lab: real platform components in local containers built from Debian packages.

Only the CLI, the pytest plugin and tests import this package; everything else reads the inventory
the lab writes.
"""
