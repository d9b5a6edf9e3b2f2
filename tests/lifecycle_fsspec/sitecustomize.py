"""Loaded by a test server through PYTHONPATH: registers ``quotamem://``, an fsspec store
whose capacity is ``ASTROFLOW_TEST_STORE_BYTES`` (tests/test_lifecycle_quota_store.py)."""

from quota_store import register

register()
