"""Jobs: their model, the store, artifacts, events and the runner that executes them."""
