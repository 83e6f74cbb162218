"""``python -m certward.interfaces.cli``: the same as the ``certward`` command."""

from certward.interfaces.cli.app import main

main()
