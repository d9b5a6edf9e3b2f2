# %% [markdown]
# # Nap
# Sleeps without reporting progress: only the runner's heartbeats say its job is alive.

# %% tags=["parameters"]
seconds = 1.0  # oda:Float ; oda:lower_limit 0 ; oda:upper_limit 120
tag = "a"  # oda:String

# %%
import time

time.sleep(seconds)
slept = seconds

# %% tags=["outputs"]
slept  # oda:Float
