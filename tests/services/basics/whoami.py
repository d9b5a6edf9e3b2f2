# %% [markdown]
# # Who am I
# Reads the caller's token: only because it declares token access.

# %% tags=["parameters"]
# oda:oda_token_access oda:InOdaContext .
greeting = "hello"  # oda:String

# %%
import base64
import json
import os

token = os.environ.get("ASTROFLOW_TOKEN", "")
payload = token.split(".")[1] if token.count(".") == 2 else ""
token_seen = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"] if payload else ""

# %% tags=["outputs"]
token_seen  # oda:String
