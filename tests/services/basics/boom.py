# %% [markdown]
# # Boom
# Fails on purpose: a bug or an analysis error.

# %% tags=["parameters"]
mode = "bug"  # oda:String ; oda:allowed_value "bug", "analysis", "ok"

# %%
import astroflow

if mode == "bug":
    raise ValueError("boom")
if mode == "analysis":
    raise astroflow.AnalysisError("no data in this time range")
result = 1.0

# %% tags=["outputs"]
result  # oda:Float
