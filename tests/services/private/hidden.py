# %% [markdown]
# # Hidden
# Only for the secret team.

# %% tags=["parameters"]
x = 1.0  # oda:Float

# %%
y = x + 1

# %% tags=["outputs"]
y  # oda:Float
