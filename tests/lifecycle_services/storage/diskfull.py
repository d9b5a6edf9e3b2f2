# %% [markdown]
# # Disk full
# Writes its result where no space is left (``/dev/full`` answers every write with ENOSPC),
# as a run on a full store does.

# %% tags=["parameters"]
size = 4096  # oda:Integer ; oda:lower_limit 1 ; oda:upper_limit 1000000

# %%
# ruff: noqa: E402, B018 - a notebook as its author writes it
with open("/dev/full", "wb") as sink:
    sink.write(b"x" * size)
    sink.flush()
done = size

# %% tags=["outputs"]
done  # oda:Integer
