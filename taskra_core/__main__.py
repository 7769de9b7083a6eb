"""``python -m taskra_core`` is the ``taskra`` command."""

from taskra_core.cli import main

main()
