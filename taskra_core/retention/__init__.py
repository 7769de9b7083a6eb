"""Data retention: policies that delete what Taskra no longer needs, swept daily in batches.

Plugins add policies for their own tables with the ``register_retention_policies`` hook;
Taskra's own are in :mod:`taskra_core.retention.builtin`. See docs/retention.md.
"""

from taskra_core.retention.accounts import request_account_deletion
from taskra_core.retention.policy import RetentionPolicies, RetentionPolicy, SweepContext
from taskra_core.retention.service import PolicyResult, Retention, RetentionReport

__all__ = [
    "PolicyResult",
    "Retention",
    "RetentionPolicies",
    "RetentionPolicy",
    "RetentionReport",
    "SweepContext",
    "request_account_deletion",
]
