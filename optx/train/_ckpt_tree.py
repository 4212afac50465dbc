"""What optx records beside the arrays of a checkpoint, and the checks made before reading them.

A checkpoint's ``optx.json`` describes the saved tree: every container node (key path and
type name: ``TrainState``, ``ScaleByAdamState``, ``dict``...; the hyperparameter names are
the keys of each ``HyperparamsState.values``) and every leaf (key path, kind, dtype, shape,
PRNG key implementation). A restore compares it with the target before any array is read.
``ScheduledFlags`` are static and hold no arrays: they are left out, so a state saved with a
float hyperparameter restores into an optimizer that schedules it, and back.

``MANIFEST.json``, written last, lists the sha256 and size of every other file of the
checkpoint, and its own sha256 over that list; a restore verifies all of it.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import jax
import numpy as np

from optx._hyperparams import ScheduledFlags

FORMAT = "optx-checkpoint"
VERSION = 2
INFO = "optx.json"
MANIFEST = "MANIFEST.json"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, is corrupt, or does not match its target."""


# -- structure -----------------------------------------------------------------------------


def _is_key(leaf: Any) -> bool:
    dtype = getattr(leaf, "dtype", None)
    return dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)


def _kind(leaf: Any) -> str:
    if _is_key(leaf):
        return "key"
    if isinstance(leaf, (bool, int, float)) and not isinstance(leaf, np.generic):
        return "python_" + type(leaf).__name__
    if isinstance(leaf, (np.ndarray, np.generic)):
        return "numpy"
    if isinstance(leaf, (jax.Array, jax.ShapeDtypeStruct)):
        return "array"
    return "other"


def leaf_info(path: str, leaf: Any) -> dict[str, Any]:
    """Key path, kind, dtype, shape (and key implementation) of one leaf."""
    kind = _kind(leaf)
    if kind == "key":
        # dtype ("key<fry>") is compared; impl ("threefry2x32") rebuilds the keys
        impl = str(jax.random.key_impl(leaf)) if isinstance(leaf, jax.Array) else None
        shape = list(leaf.shape)
        return {"path": path, "kind": kind, "dtype": str(leaf.dtype), "impl": impl, "shape": shape}
    if kind == "other":
        return {"path": path, "kind": kind, "dtype": type(leaf).__name__, "shape": []}
    dtype = np.dtype(leaf.dtype) if hasattr(leaf, "dtype") else np.asarray(leaf).dtype
    return {"path": path, "kind": kind, "dtype": dtype.name, "shape": list(np.shape(leaf))}


def _children(obj: Any) -> list[tuple[Any, Any]] | None:
    """One level of ``obj``'s pytree: (key, child) pairs, or None for a leaf."""
    flat, treedef = jax.tree_util.tree_flatten_with_path(obj, is_leaf=lambda x: x is not obj)
    if jax.tree_util.treedef_is_leaf(treedef) and flat and flat[0][1] is obj:
        return None
    return [(path[0], child) for path, child in flat]


def describe(tree: Any) -> tuple[list[list[str]], list[dict[str, Any]], list[Any]]:
    """(nodes, leaves, leaf values) of ``tree``, leaves in ``jax.tree.leaves`` order.

    ``nodes`` are ``[key path, type name]`` of every container, ScheduledFlags left out.
    """
    nodes: list[list[str]] = []
    leaves: list[dict[str, Any]] = []
    values: list[Any] = []

    def walk(obj: Any, keys: tuple) -> None:
        if isinstance(obj, ScheduledFlags):
            return
        children = _children(obj)
        path = jax.tree_util.keystr(keys)
        if children is None:
            leaves.append(leaf_info(path, obj))
            values.append(obj)
            return
        nodes.append([path, type(obj).__qualname__])
        for key, child in children:
            walk(child, (*keys, key))

    walk(tree, ())
    return nodes, leaves, values


def _text(leaf: dict[str, Any]) -> str:
    dims = ",".join(str(d) for d in leaf["shape"])
    if leaf["kind"] == "key":
        return f"PRNG key {leaf['dtype']}[{dims}]"
    if leaf["kind"].startswith("python_"):
        return f"Python {leaf['kind'][7:]}"
    return f"{leaf['dtype']}[{dims}]"


def _same_leaf(saved: dict[str, Any], wanted: dict[str, Any]) -> bool:
    if (saved["kind"] == "key") != (wanted["kind"] == "key"):
        return False
    if saved["kind"].startswith("python_") and wanted["kind"].startswith("python_"):
        return True  # a Python number restores as one, whatever its width
    return (saved["dtype"], saved["shape"]) == (wanted["dtype"], wanted["shape"])


def compare(where: str, info: dict[str, Any], nodes: list, leaves: list) -> None:
    """Raises CheckpointError naming the first path where ``info`` and the target differ."""
    saved_nodes = [list(n) for n in info["nodes"]]
    for i in range(max(len(saved_nodes), len(nodes))):
        a = saved_nodes[i] if i < len(saved_nodes) else None
        b = nodes[i] if i < len(nodes) else None
        if a == b:
            continue
        if a is not None and b is not None and a[0] == b[0]:
            raise CheckpointError(
                f"{where}: at {a[0] or 'the root'} the checkpoint has a {a[1]} node, the target "
                f"{b[1]} (a state of another optimizer or model?)"
            )
        raise CheckpointError(
            f"{where}: the tree structures differ; the first difference is node {i}: "
            f"checkpoint {_node_text(a)}, target {_node_text(b)}"
        )
    saved = info["leaves"]
    for i in range(max(len(saved), len(leaves))):
        saved_path = saved[i]["path"] if i < len(saved) else "(none)"
        target_path = leaves[i]["path"] if i < len(leaves) else "(none)"
        if saved_path != target_path:
            raise CheckpointError(
                f"{where}: the checkpoint has {len(saved)} leaves, the target {len(leaves)}; "
                f"the first difference is leaf {i}: checkpoint {saved_path}, target {target_path}"
            )
    problems = [
        f"{a['path']}: checkpoint {_text(a)}, target {_text(b)}"
        for a, b in zip(saved, leaves)
        if not _same_leaf(a, b)
    ]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise CheckpointError(f"{where}: {problems[0]}{more}")


def _node_text(node: list | None) -> str:
    if node is None:
        return "(none)"
    return f"{node[1]} at {node[0] or 'the root'}"


# -- manifest ------------------------------------------------------------------------------


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def list_files(directory: str) -> list[str]:
    """Every file under ``directory`` (relative, sorted), the manifest left out."""
    out = []
    for root, _, files in os.walk(directory):
        for name in files:
            rel = os.path.relpath(os.path.join(root, name), directory)
            if rel != MANIFEST:
                out.append(rel.replace(os.sep, "/"))
    return sorted(out)


def _canonical(files: dict[str, Any]) -> bytes:
    return json.dumps(files, sort_keys=True, separators=(",", ":")).encode()


def write_manifest(directory: str) -> None:
    """Writes MANIFEST.json (sha256 and size of every file, then its own sha256), fsynced."""
    files = {}
    for rel in list_files(directory):
        full = os.path.join(directory, rel)
        files[rel] = {"sha256": _sha256(full), "size": os.path.getsize(full)}
    body = {"files": files, "sha256": hashlib.sha256(_canonical(files)).hexdigest()}
    write_json(os.path.join(directory, MANIFEST), body)


def write_json(path: str, value: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, sort_keys=True, allow_nan=False)
        f.flush()
        os.fsync(f.fileno())


def read_manifest(where: str, directory: str) -> dict[str, dict[str, Any]]:
    """The verified file list of a checkpoint (its sizes and names checked; not its hashes)."""
    path = os.path.join(directory, MANIFEST)
    if not os.path.exists(path):
        raise CheckpointError(
            f"{where}: no {MANIFEST}: not an optx checkpoint, or its save did not finish "
            "(an interrupted save is never the latest checkpoint)"
        )
    try:
        with open(path, "rb") as f:
            body = json.loads(f.read().decode("utf-8"))
        files, expected = body["files"], body["sha256"]
        ok = isinstance(files, dict) and hashlib.sha256(_canonical(files)).hexdigest() == expected
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{where}: {MANIFEST} is corrupt ({err})") from None
    if not ok:
        raise CheckpointError(f"{where}: {MANIFEST} is corrupt (its own sha256 differs)")
    present = set(list_files(directory))
    missing = sorted(set(files) - present)
    if missing:
        raise CheckpointError(f"{where}: file {missing[0]} is missing ({len(missing)} missing)")
    extra = sorted(present - set(files))
    if extra:
        raise CheckpointError(f"{where}: file {extra[0]} is not in {MANIFEST}")
    for rel, entry in files.items():
        size = os.path.getsize(os.path.join(directory, rel))
        if size != entry["size"]:
            raise CheckpointError(
                f"{where}: file {rel} has {size} bytes, {entry['size']} were written "
                "(truncated or changed)"
            )
    return files


def first_corrupt(directory: str, files: dict[str, dict[str, Any]], names: list[str]) -> int:
    """The index in ``names`` of the first file whose sha256 differs, or -1."""
    for i, rel in enumerate(names):
        if _sha256(os.path.join(directory, rel)) != files[rel]["sha256"]:
            return i
    return -1


def read_info(where: str, directory: str) -> dict[str, Any]:
    """optx.json, after the manifest vouched for it."""
    with open(os.path.join(directory, INFO), encoding="utf-8") as f:
        info = json.load(f)
    if info.get("format") != FORMAT:
        raise CheckpointError(f"{where}: format {info.get('format')!r}, not {FORMAT!r}")
    version = info.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(
            f"{where}: format version {version!r}; this optx reads versions <= {VERSION} "
            "(upgrade optx to read it)"
        )
    if version < VERSION:
        raise CheckpointError(
            f"{where}: format version {version} (the single-file format before orbax) is no "
            "longer read; save it again with this optx"
        )
    return info
