"""CTAO observation planning with gammapy: IRFs, source model, visibility, simulation,
sensitivity."""
