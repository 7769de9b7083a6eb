"""The admin pages: server-rendered from ``templates/admin``, the same templates inside
Shopify admin (App Bridge, session tokens) and in a browser tab (session cookie)."""
