"""Workflow sources and the catalogue of services they provide."""
