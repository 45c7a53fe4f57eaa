"""``python -m hadrill.cli``: the ``hadrill`` command without its console script."""

from hadrill.cli import main

main()
