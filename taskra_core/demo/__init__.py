"""The demo store shipped with Taskra: Fell & Ford, a fictional outdoor shop in Kendal.

Everything in it is synthetic (people, addresses, orders; emails use reserved domains). It
is a store folder in the format of docs/store-format.md, so ``taskra store import`` loads it,
and it ships inside the package so the demo and the tests work from a wheel too.
"""

from __future__ import annotations

from pathlib import Path

FELLANDFORD = Path(__file__).resolve().parent / "fellandford"
