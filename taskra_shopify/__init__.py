"""Taskra's web shell: the Starlette app embedded in Shopify admin (``create_app``)."""
