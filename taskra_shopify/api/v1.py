"""The ``/api/v1`` endpoint set; :mod:`.inbox` and :mod:`.ai` declare their endpoints on it."""

from __future__ import annotations

from taskra_shopify.api.endpoint import Api

api = Api("/api/v1")
