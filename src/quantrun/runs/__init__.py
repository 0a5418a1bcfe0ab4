"""Runs: identity, the builder, artifacts, the manifest and the registry."""
