"""The HTTP server: FastAPI app, routers and the self-contained helpers they call."""
