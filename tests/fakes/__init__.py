"""Fakes of remote services: real HTTP servers on 127.0.0.1 that real client SDKs talk to.

They are real servers rather than transport mocks because some SDKs (``anthropic`` among them)
ship their own HTTP stack that respx-style mocks never see.
"""
