"""Checkpoints on orbax: each process writes its own shards; optx verifies before reading.

A checkpoint is a directory::

    state/          orbax-checkpoint (OCDBT): every process writes the shards it holds
    optx.json       the saved tree's structure (node types, key paths, dtypes, shapes),
                    format version, user metadata and metrics
    MANIFEST.json   sha256 and size of every other file, and its own sha256; written last

It is written in ``.optx-tmp.<name>`` beside it and renamed into place when complete, so a
killed save leaves the previous checkpoint and a temporary directory that the next save or
restore into the same parent removes. A restore verifies the manifest and every file's
sha256, then compares the structure with the target (`optx.train.CheckpointError` names
the first differing path), and only then reads arrays, straight onto the target's devices.

orbax-checkpoint is imported on first use (``pip install 'optx-jax[train]'``).
"""

from __future__ import annotations

import os
import shutil
import threading
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optx.train import _ckpt_tree as tree_info
from optx.train._ckpt_tree import CheckpointError

TMP, OLD = ".optx-tmp.", ".optx-old."
_lock = threading.Lock()
_pending: list[PendingSave] = []
_barriers = [0]


def ocp() -> Any:
    """orbax.checkpoint, imported on first use."""
    try:
        import orbax.checkpoint as orbax_checkpoint
    except ImportError as err:
        raise ImportError(
            "optx.train checkpoints need orbax-checkpoint: pip install 'optx-jax[train]' "
            "(or pip install 'orbax-checkpoint>=0.12.8,<0.13')"
        ) from err
    return orbax_checkpoint


def primary() -> bool:
    return jax.process_index() == 0


def barrier(name: str) -> None:
    """All processes meet here (a key-value barrier: safe from a background thread)."""
    if jax.process_count() == 1:
        return
    _barriers[0] += 1
    ocp().multihost.get_barrier_sync_fn()(key=f"optx-{name}-{_barriers[0]}", timeout_ms=300_000)


def wait_until_finished() -> None:
    """Waits for every asynchronous save of this process, raising the first one's error."""
    while True:
        with _lock:
            if not _pending:
                return
            pending = _pending[0]
        pending.wait()


def clean(parent: str) -> None:
    """Removes what killed saves left in ``parent``; puts back a replaced checkpoint."""
    if not primary() or not os.path.isdir(parent):
        return
    for name in os.listdir(parent):
        full = os.path.join(parent, name)
        if name.startswith(TMP):
            shutil.rmtree(full, ignore_errors=True)
        elif name.startswith(OLD):
            final = os.path.join(parent, name[len(OLD) :])
            if os.path.exists(final):
                shutil.rmtree(full, ignore_errors=True)
            else:  # killed between the two renames of a replacing save: the old one stands
                os.replace(full, final)


def _savable(where: str, leaf_info: dict, leaf: Any) -> Any:
    kind = leaf_info["kind"]
    if kind == "key":
        return jax.random.key_data(leaf)
    if kind == "other" or (kind == "numpy" and np.asarray(leaf).dtype.kind not in "biufcV"):
        raise CheckpointError(
            f"{where}: {leaf_info['path']} is a {leaf_info['dtype']}; checkpoints hold arrays, "
            "PRNG keys and numbers only"
        )
    if kind.startswith("python_") or kind == "numpy":
        return np.asarray(leaf)
    return leaf


class PendingSave:
    """A save running in the background; `wait` blocks until it is committed."""

    def __init__(self, path: str, on_commit: Any = None):
        self.path = path
        self._on_commit = on_commit
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def _start(self, checkpointer: Any, tmp: str, info: dict) -> None:
        def finish() -> None:
            try:
                checkpointer.wait_until_finished()
                checkpointer.close()
                if primary():
                    _commit(tmp, self.path, info)
                    if self._on_commit is not None:
                        self._on_commit()
                barrier("committed")
            except BaseException as err:  # reported by wait()
                self._error = err
            finally:
                with _lock:
                    _pending.remove(self)

        self._thread = threading.Thread(target=finish, name="optx-checkpoint", daemon=False)
        self._thread.start()

    def done(self) -> bool:
        """True once the checkpoint is committed (or its save failed)."""
        return self._thread is None or not self._thread.is_alive()

    def wait(self) -> None:
        """Blocks until the checkpoint is committed; raises the error of a failed save."""
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error


def _commit(tmp: str, final: str, info: dict) -> None:
    tree_info.write_json(os.path.join(tmp, tree_info.INFO), info)
    tree_info.write_manifest(tmp)
    parent, name = os.path.split(final)
    if os.path.exists(final):
        old = os.path.join(parent, OLD + name)
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    _fsync_dir(parent)


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some platforms cannot open directories; the rename is still atomic
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def start_save(
    path: str | os.PathLike,
    tree: Any,
    *,
    metadata: dict | None = None,
    extra: dict | None = None,
    force: bool = False,
    on_commit: Any = None,
    call: str = "optx.train.save",
) -> PendingSave:
    """Starts writing ``tree`` to the checkpoint directory ``path`` (see `save`)."""
    final = os.path.abspath(os.fspath(path))
    where = f"{call}: {final}"
    nodes, leaves, values = tree_info.describe(tree)
    arrays = {f"{i}": _savable(where, d, v) for i, (d, v) in enumerate(zip(leaves, values))}
    info = {
        "format": tree_info.FORMAT,
        "version": tree_info.VERSION,
        "nodes": nodes,
        "leaves": leaves,
        "metadata": metadata or {},
        **(extra or {}),
    }
    try:
        import json

        json.dumps(info, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{call}: metadata must be JSON-serializable: {err}") from err
    wait_until_finished()
    parent, name = os.path.split(final)
    if os.path.exists(final) and not force:
        raise CheckpointError(
            f"{where} exists; pass force=True to replace it (atomically), or use "
            "optx.train.CheckpointManager to keep a checkpoint per step"
        )
    tmp = os.path.join(parent, TMP + name)
    if primary():
        os.makedirs(parent, exist_ok=True)
        clean(parent)
        os.makedirs(tmp)
    barrier("begin")
    orbax = ocp()
    checkpointer = orbax.AsyncCheckpointer(orbax.PyTreeCheckpointHandler())
    pending = PendingSave(final, on_commit)
    with _lock:
        _pending.append(pending)
    try:
        # Copies device arrays to host now; writing runs in the background.
        checkpointer.save(os.path.join(tmp, "state"), args=orbax.args.PyTreeSave(arrays))
    except BaseException:
        with _lock:
            _pending.remove(pending)
        checkpointer.close()
        raise
    pending._start(checkpointer, tmp, info)
    return pending


def save(
    path: str | os.PathLike,
    tree: Any,
    *,
    metadata: dict | None = None,
    force: bool = False,
    asynchronous: bool = False,
) -> PendingSave:
    """Writes ``tree`` (a `TrainState`, an optimizer state, any pytree of arrays) to ``path``.

    ``path`` becomes a directory (layout in the module docstring). Every process of a
    ``jax.distributed`` run must call `save`: each writes the shards of the arrays it
    holds, nothing is gathered. The directory appears only when complete (written beside
    it, then renamed); what a killed save left is removed by the next save or restore in
    the same parent directory (one writer per directory).

    Args:
      path: the checkpoint directory to create.
      tree: a pytree of arrays, PRNG keys and numbers (no other Python objects).
      metadata: a JSON-serializable dict stored beside the arrays (`read_metadata`).
      force: replace an existing checkpoint at ``path`` (atomically: a crash leaves the
        old one or the new one).
      asynchronous: return once the arrays are copied to host memory and write in the
        background (training may go on and donate the arrays); call ``.wait()`` on the
        result (or `optx.train.wait_until_finished`) before reading it or exiting.

    Returns:
      A `PendingSave` (already committed unless ``asynchronous``).

    Raises:
      CheckpointError: ``path`` exists without ``force``, a leaf is not an array or
        number, or metadata is not JSON.
      ImportError: orbax-checkpoint is not installed.

    Examples:
      >>> import os, tempfile, jax.numpy as jnp, optx
      >>> state = optx.train.TrainState.create({"w": jnp.ones(3)}, optx.adam(1e-3))
      >>> path = os.path.join(tempfile.mkdtemp(), "state")
      >>> _ = optx.train.save(path, state)
      >>> restored = optx.train.restore(path, state)
      >>> restored.params["w"].tolist(), type(restored).__name__
      ([1.0, 1.0, 1.0], 'TrainState')
    """
    pending = start_save(path, tree, metadata=metadata, force=force)
    if not asynchronous:
        pending.wait()
    return pending


def verify(path: str | os.PathLike, call: str = "optx.train.restore") -> dict[str, Any]:
    """Checks the manifest and every file's sha256; returns optx.json. All processes call it.

    With several processes each hashes a share of the files and the verdicts are gathered,
    so all processes raise the same error.
    """
    directory = os.path.abspath(os.fspath(path))
    where = f"{call}: {directory}"
    if not os.path.isdir(directory):
        if os.path.isfile(directory):
            raise CheckpointError(f"{where} is a file, not an optx checkpoint directory")
        raise FileNotFoundError(f"{where}: no checkpoint there")
    files = tree_info.read_manifest(where, directory)
    names = sorted(files)
    share = names[jax.process_index() :: jax.process_count()]
    bad = tree_info.first_corrupt(directory, files, share)
    index = names.index(share[bad]) if bad >= 0 else -1
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        found = np.asarray(multihost_utils.process_allgather(np.int32(index)))
        index = int(found[found >= 0].min()) if np.any(found >= 0) else -1
    if index >= 0:
        raise CheckpointError(f"{where}: file {names[index]} is corrupt (its sha256 differs)")
    try:
        return tree_info.read_info(where, directory)
    except (ValueError, KeyError, TypeError) as err:
        if isinstance(err, CheckpointError):
            raise
        raise CheckpointError(f"{where}: {tree_info.INFO} is unreadable ({err})") from None


def read_metadata(path: str | os.PathLike) -> dict:
    """The ``metadata`` dict stored by `save`, after verifying the checkpoint.

    Raises:
      CheckpointError: not a checkpoint, incomplete, or corrupt.
    """
    wait_until_finished()
    return verify(path, "optx.train.read_metadata")["metadata"]


def _restore_arg(orbax: Any, saved: dict, leaf: Any) -> tuple[Any, Any]:
    """(orbax restore args, placement to finish with) for one leaf of the target."""
    sharding = getattr(leaf, "sharding", None)
    on_device = isinstance(leaf, (jax.Array, jax.ShapeDtypeStruct)) and saved["kind"] != "key"
    if (
        on_device
        and sharding is not None
        and (not isinstance(leaf, jax.Array) or leaf.committed or not leaf.is_fully_addressable)
    ):
        return orbax.ArrayRestoreArgs(sharding=sharding, global_shape=tuple(leaf.shape)), None
    # Host first: NumPy and Python leaves, PRNG keys (small), and uncommitted arrays, which
    # stay uncommitted (a step compiled for them does not compile again).
    return orbax.RestoreArgs(restore_type=np.ndarray), sharding


def _finish(saved: dict, value: Any, leaf: Any, sharding: Any) -> Any:
    kind = saved["kind"]
    if kind.startswith("python_"):
        return {"python_bool": bool, "python_int": int, "python_float": float}[kind](value.item())
    if kind == "numpy" and (leaf is None or isinstance(leaf, np.ndarray)):
        return value
    committed = sharding is not None and (
        not isinstance(leaf, jax.Array) or leaf.committed or not leaf.is_fully_addressable
    )
    if kind == "key":
        data: jax.Array
        if committed:
            data = jax.make_array_from_callback(value.shape, sharding, lambda i: value[i])
        else:
            data = jnp.asarray(value)
        return jax.random.wrap_key_data(data, impl=saved["impl"])
    return jnp.asarray(value)


def restore(path: str | os.PathLike, target: Any = None) -> Any:
    """Reads a checkpoint written by `save`, verified before any array is read.

    ``target`` is the tree to restore into: a freshly created state, or its abstract form
    ``jax.eval_shape(...)`` with shardings (``jax.ShapeDtypeStruct(shape, dtype,
    sharding=...)``). The saved structure (node types such as the optimizer's state
    NamedTuples, key paths, hyperparameter names), shapes and dtypes must match it; the
    ``ScheduledFlags`` may differ, so a state saved with a float learning rate restores
    into an optimizer that schedules it. Arrays go straight onto the target's shardings
    (each process reads its shards). A committed target gives committed arrays; an
    uncommitted one (``jnp.zeros`` on the default device), or a ShapeDtypeStruct without
    sharding, gives uncommitted arrays, so a step compiled for the target does not
    compile again. Without ``target`` the result is nested dicts and lists.

    Args:
      path: a checkpoint directory written by `save` or `CheckpointManager`.
      target: a pytree with the expected structure (its values are not read).

    Raises:
      CheckpointError: not a checkpoint, incomplete, any file missing, truncated or
        changed (sha256), a newer format, or a structure/shape/dtype mismatch (named by
        path, with both values).
      FileNotFoundError: nothing at ``path``.
    """
    wait_until_finished()
    directory = os.path.abspath(os.fspath(path))
    clean(os.path.dirname(directory))
    barrier("restore")
    info = verify(directory)
    saved = info["leaves"]
    leaves = None
    if target is not None:
        nodes, leaves, _ = tree_info.describe(target)
        tree_info.compare(f"optx.train.restore: {directory} does not match the target", info,
                          nodes, leaves)  # fmt: skip
        values = jax.tree.leaves(target)
    else:
        values = [None] * len(saved)
    orbax = ocp()
    args, places = {}, []
    for i, (entry, leaf) in enumerate(zip(saved, values)):
        arg, place = _restore_arg(orbax, entry, leaf)
        args[str(i)] = arg
        places.append(place)
    with orbax.Checkpointer(orbax.PyTreeCheckpointHandler()) as checkpointer:
        restored = checkpointer.restore(
            os.path.join(directory, "state"),
            args=orbax.args.PyTreeRestore(restore_args=args),
        )
    out = [
        v if isinstance(a, orbax.ArrayRestoreArgs) else _finish(e, v, leaf, place)
        for e, leaf, place, a, v in zip(
            saved, values, places, args.values(), (restored[str(i)] for i in range(len(saved)))
        )
    ]
    if target is not None:
        return jax.tree.unflatten(jax.tree.structure(target), out)
    return _nest(saved, out)


def _nest(saved: list[dict], values: list[Any]) -> Any:
    """Nested dicts (lists for integer-indexed levels) from the saved key paths."""
    if not saved:
        return None
    root: dict = {}
    for entry, value in zip(saved, values):
        keys = _split(entry["path"])
        if not keys:
            return value
        node = root
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value

    def build(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        if node and all(isinstance(k, int) for k in node):
            return [build(node[k]) for k in sorted(node)]
        return {k: build(v) for k, v in node.items()}

    return build(root)


def _split(path: str) -> list[Any]:
    """``.opt_state[0].mu['w']`` -> ["opt_state", 0, "mu", "w"] (keystr's spelling)."""
    import re

    keys: list[Any] = []
    for attr, index, key in re.findall(r"\.(\w+)|\[(\d+)\]|\[('(?:[^'\\]|\\.)*'|\"[^\"]*\")\]",
                                        path):  # fmt: skip
        if attr:
            keys.append(attr)
        elif index:
            keys.append(int(index))
        else:
            keys.append(key[1:-1])
    return keys
