"""Shared test helpers: the fault proxy and its Azurite helpers, report samples."""
