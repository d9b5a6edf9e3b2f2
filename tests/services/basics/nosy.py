# %% [markdown]
# # Nosy
# Tries to read the caller's token without declaring token access.

# %% tags=["parameters"]
greeting = "hello"  # oda:String

# %%
import base64
import json
import os

token = os.environ.get("ASTROFLOW_TOKEN", "") or os.environ.get("ODA_TOKEN", "")
secret_seen = os.environ.get("ASTROFLOW_JWT_SECRET", "")
payload = token.split(".")[1] if token.count(".") == 2 else ""
token_seen = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"] if payload else ""

# %% tags=["outputs"]
token_seen  # oda:String
secret_seen  # oda:String
