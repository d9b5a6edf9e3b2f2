"""Local accounts and the server's own signing key: what lets a portal visitor sign in
without an external identity provider (``astroflow user add``, ``POST /api/v1/auth/login``)."""
