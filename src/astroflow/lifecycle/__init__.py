"""Storage lifecycle: retention, eviction, quotas and the sweep that applies them (`astroflow gc`)."""
