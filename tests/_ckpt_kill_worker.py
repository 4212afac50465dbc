"""Worker for tests/test_checkpoint_manager.py: resumes, checks, then saves until killed.

Run as ``_ckpt_kill_worker.py ROOT``, it is a launcher: it imports JAX and optx once (the
backend is not started, so no threads exist yet) and, for each ``run`` line on stdin, forks
a fresh child that runs `main` (prints ``pid N`` first) and reports ``exited CODE`` when the
child ends. The test kills each child with SIGKILL; a child is a whole process of its own
(it starts the backend itself), so the kill is what a killed training job sees, without
paying the JAX import per run.
"""

import os
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


def launcher(root):
    for command in sys.stdin:
        if command.strip() != "run":
            break
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                print("pid", os.getpid(), flush=True)
                main(root)
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        print("exited", os.waitstatus_to_exitcode(status), flush=True)


if __name__ == "__main__":
    launcher(sys.argv[1])
