"""The JSON API at ``/api/v1``: everything the admin pages do, for integrators too.

Endpoints are declared in :mod:`.inbox`, :mod:`.ai`, :mod:`.knowledge`, :mod:`.accounts`
and :mod:`.events` on one :class:`~.endpoint.Api`; the OpenAPI document at
``/api/v1/openapi.json`` is generated from those declarations.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from starlette.routing import BaseRoute, Route

from taskra_shopify.api import (  # noqa: F401  (their endpoints register on api)
    accounts,
    ai,
    billing,
    events,
    inbox,
    knowledge,
    privacy,
)
from taskra_shopify.api.openapi import openapi_endpoint
from taskra_shopify.api.v1 import api


def _version() -> str:
    try:
        return version("taskra")
    except PackageNotFoundError:
        return "0"


def api_routes() -> list[BaseRoute]:
    return [
        Route(f"{api.prefix}/openapi.json", openapi_endpoint(api, _version()), methods=["GET"]),
        *api.routes(),
    ]
