"""Worker for tests/test_checkpoint_manager.py: resumes, checks, then saves until killed."""

import sys

import jax.numpy as jnp
import numpy as np

from optx import train


def tree(step):
    return {"step": jnp.int32(step), "w": jnp.full((256, 1024), float(step), jnp.float32)}


def main(root):
    manager = train.CheckpointManager(root, max_to_keep=2, asynchronous=True)
    latest = manager.latest_step()
    if latest is not None:
        restored = manager.restore(target=tree(0))
        ok = int(restored["step"]) == latest and np.all(np.asarray(restored["w"]) == latest)
        print("resumed", latest, "ok" if ok else "WRONG", flush=True)
    step = (latest or 0) + 1
    while True:
        print("begin", step, flush=True)
        manager.save(step, tree(step))
        manager.wait()
        step += 1


if __name__ == "__main__":
    main(sys.argv[1])
