"""Privacy: the data-subject rights of the privacy policy, as code.

- :mod:`.ledger`: the privacy-request ledger (kind, subject, source, due in 30 days, outcome).
- :mod:`.export`: everything Taskra holds on a customer, as versioned JSON (access,
  portability), kept for the merchant to download until it expires.
- :mod:`.erasure`: erasing a customer or a whole shop from every table and every plugin,
  then scrubbing what the database would otherwise keep of deleted rows.
- :mod:`.service`: :class:`Privacy` (``taskra.privacy``), the operations the CLI, the API and
  the compliance webhooks share: export, erase, rectify, object, list requests.
- :mod:`.policy`: the privacy policy text Taskra serves at ``/privacy``.

Marketing email (consent, one-click unsubscribe) lives with the merchant notices in
:mod:`taskra_core.notifications`.
"""
