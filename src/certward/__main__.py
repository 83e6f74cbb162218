"""``python -m certward``: the same as the ``certward`` command."""

from certward.interfaces.cli.app import main

main()
