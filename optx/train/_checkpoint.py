"""Checkpoints without pickle: a JSON header plus raw array bytes, written atomically.

File layout (format version 1)::

    b"OPTXCKPT"                8 bytes, magic
    header length              8 bytes, little-endian unsigned
    header                     UTF-8 JSON: format, version, leaves (key path, kind, shape,
                               dtype, offset, nbytes; PRNG keys also their impl), payload
                               size, payload sha256, user metadata
    payload                    the leaves' C-order little-endian bytes, back to back

Nothing in the file is executed when it is read. PRNG key arrays are stored as their key
data (`jax.random.key_data`) and rebuilt with `jax.random.wrap_key_data`; bfloat16 and
every other JAX dtype is stored by name.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

_MAGIC = b"OPTXCKPT"
_FORMAT = "optx-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not match what it is restored into."""


def _path_entries(path: tuple) -> list[list[Any]]:
    entries = []
    for k in path:
        if isinstance(k, jax.tree_util.DictKey):
            key = k.key if isinstance(k.key, (str, int)) else str(k.key)
            entries.append(["key", key])
        elif isinstance(k, jax.tree_util.SequenceKey):
            entries.append(["idx", k.idx])
        elif isinstance(k, jax.tree_util.GetAttrKey):
            entries.append(["attr", k.name])
        elif isinstance(k, jax.tree_util.FlattenedIndexKey):
            entries.append(["flat", k.key])
        else:
            entries.append(["other", str(k)])
    return entries


def _is_key(leaf: Any) -> bool:
    dtype = getattr(leaf, "dtype", None)
    return dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)


def _describe(kind: str, dtype: str, shape: list[int]) -> str:
    text = f"{dtype}[{','.join(str(d) for d in shape)}]"
    return f"PRNG key {text}" if kind == "key" else text


def _host_copy(leaf: Any) -> Any:
    """A leaf every process can read whole: arrays spread over several processes are gathered.

    A replicated array is read from this process's own copy; a sharded one is assembled
    with ``process_allgather`` (a collective: every process must call `save`).
    """
    if not isinstance(leaf, jax.Array) or leaf.is_fully_addressable:
        return leaf
    if leaf.sharding.is_fully_replicated:
        return leaf.addressable_data(0)
    from jax.experimental import multihost_utils

    if _is_key(leaf):
        data = multihost_utils.process_allgather(jax.random.key_data(leaf), tiled=True)
        return jax.random.wrap_key_data(jnp.asarray(data), impl=jax.random.key_impl(leaf))
    return multihost_utils.process_allgather(leaf, tiled=True)


def _leaf_spec(leaf: Any) -> tuple[dict[str, Any], np.ndarray]:
    leaf = _host_copy(leaf)
    if _is_key(leaf):
        data = np.asarray(jax.random.key_data(leaf))
        spec = {"kind": "key", "impl": str(jax.random.key_impl(leaf)), "shape": list(leaf.shape)}
    else:
        if isinstance(leaf, (bool, int, float)) and not isinstance(leaf, np.generic):
            kind = "python_" + type(leaf).__name__
        else:
            kind = "array"
        data = np.asarray(leaf)
        if data.dtype.kind not in "biufcV":
            raise CheckpointError(
                f"optx.train.save: cannot store a leaf of type {type(leaf).__name__}; "
                "checkpoints hold arrays and numbers only"
            )
        spec = {"kind": kind, "shape": list(data.shape)}
    if not data.flags.c_contiguous:  # (np.ascontiguousarray would make a 0-d array 1-d)
        data = np.array(data, order="C")
    if data.dtype.byteorder == ">" or (data.dtype.byteorder == "=" and sys.byteorder == "big"):
        data = data.astype(data.dtype.newbyteorder("<"))
    spec.update(dtype=data.dtype.name, data_shape=list(data.shape), nbytes=int(data.nbytes))
    return spec, data


def _bytes(data: np.ndarray) -> np.ndarray:
    """The array's bytes without a copy (uint8 view; memoryview refuses bfloat16)."""
    return data.reshape(-1).view(np.uint8)


def save(path: str | os.PathLike, tree: Any, *, metadata: dict | None = None) -> None:
    """Writes ``tree`` (a `TrainState`, an optimizer state, any pytree of arrays) to ``path``.

    The file is written to a temporary file in the same directory, flushed and fsynced,
    then renamed over ``path`` (`os.replace`), so a crash at any moment leaves either the
    previous checkpoint or the new one, never a partial file.

    With several processes (``jax.distributed``), every process must call `save`: arrays
    sharded across processes are gathered, process 0 alone writes the file (on a file
    system the others can read), and all processes wait until it is in place.

    Args:
      path: the file to write.
      tree: a pytree of arrays, PRNG keys and numbers (no other Python objects).
      metadata: optional JSON-serializable dict stored in the header (`read_metadata`).

    Raises:
      CheckpointError: a leaf is not an array or number, or metadata is not JSON.

    Examples:
      >>> import os, tempfile, jax.numpy as jnp, optx
      >>> state = optx.train.TrainState.create({"w": jnp.ones(3)}, optx.adam(1e-3))
      >>> path = os.path.join(tempfile.mkdtemp(), "state.ckpt")
      >>> optx.train.save(path, state)
      >>> restored = optx.train.restore(path, like=state)
      >>> restored.params["w"].tolist(), type(restored).__name__
      ([1.0, 1.0, 1.0], 'TrainState')
    """
    flat, treedef = jax.tree_util.tree_flatten_with_path(tree)
    leaves, datas, offset = [], [], 0
    digest = hashlib.sha256()
    for key_path, leaf in flat:
        spec, data = _leaf_spec(leaf)
        spec.update(path=jax.tree_util.keystr(key_path), entries=_path_entries(key_path))
        spec["offset"] = offset
        offset += spec["nbytes"]
        digest.update(_bytes(data))
        leaves.append(spec)
        datas.append(data)
    header = {
        "format": _FORMAT,
        "version": VERSION,
        "treedef": str(treedef),
        "leaves": leaves,
        "payload_bytes": offset,
        "payload_sha256": digest.hexdigest(),
        "metadata": metadata or {},
    }
    try:
        header_bytes = json.dumps(header, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as err:
        raise CheckpointError(
            f"optx.train.save: metadata must be JSON-serializable: {err}"
        ) from err
    path = os.fspath(path)
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        if jax.process_index() == 0:
            _write(path, header_bytes, datas)
        multihost_utils.sync_global_devices(f"optx.train.save {path}")
        return
    _write(path, header_bytes, datas)


def _write(path: str, header_bytes: bytes, datas: list[np.ndarray]) -> None:
    """Temporary file, fsync, atomic rename, fsync of the directory."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_MAGIC)
            f.write(len(header_bytes).to_bytes(8, "little"))
            f.write(header_bytes)
            for data in datas:
                f.write(_bytes(data))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some platforms cannot open directories; the rename is still atomic
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _read(path: str | os.PathLike) -> tuple[dict, memoryview]:
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    where = f"optx.train.restore: {path}"
    if raw[: len(_MAGIC)] != _MAGIC:
        raise CheckpointError(f"{where} is not an optx checkpoint (no OPTXCKPT at the start)")
    if len(raw) < 16:
        raise CheckpointError(f"{where} is truncated: {len(raw)} bytes, no header length")
    n = int.from_bytes(raw[8:16], "little")
    if len(raw) < 16 + n:
        raise CheckpointError(
            f"{where} is truncated: the header needs {16 + n} bytes, the file has {len(raw)}"
        )
    try:
        header = json.loads(raw[16 : 16 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{where} has a corrupt header: {err}") from None
    if header.get("format") != _FORMAT:
        raise CheckpointError(f"{where} has format {header.get('format')!r}, not {_FORMAT!r}")
    version = header.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(
            f"{where} has format version {version!r}; this optx reads versions <= {VERSION} "
            "(upgrade optx to read it)"
        )
    payload = memoryview(raw)[16 + n :]
    if len(payload) != header["payload_bytes"]:
        state = "truncated" if len(payload) < header["payload_bytes"] else "longer than written"
        raise CheckpointError(
            f"{where} is {state}: the header promises {header['payload_bytes']} bytes of "
            f"arrays, the file holds {len(payload)}"
        )
    if hashlib.sha256(payload).hexdigest() != header["payload_sha256"]:
        raise CheckpointError(f"{where} is corrupt: the sha256 checksum of its arrays differs")
    return header, payload


def read_metadata(path: str | os.PathLike) -> dict:
    """The ``metadata`` dict stored by `save`, after verifying the file.

    Raises:
      CheckpointError: the file is not a checkpoint, is truncated or corrupt.
    """
    return _read(path)[0]["metadata"]


def _check_like(path: str, specs: list[dict], like: Any) -> list[tuple]:
    flat = jax.tree_util.tree_flatten_with_path(like)[0]
    where = f"optx.train.restore: {path} does not match `like`"
    for i in range(max(len(specs), len(flat))):
        saved = specs[i]["path"] if i < len(specs) else None
        wanted = jax.tree_util.keystr(flat[i][0]) if i < len(flat) else None
        if saved != wanted:
            raise CheckpointError(
                f"{where}: the checkpoint has {len(specs)} leaves, `like` has {len(flat)}; "
                f"the first difference is leaf {i}: checkpoint {saved or '(none)'}, "
                f"like {wanted or '(none)'}"
            )
    problems = []
    for spec, (_, leaf) in zip(specs, flat):
        if _is_key(leaf):
            kind, dtype = "key", str(jax.random.key_impl(leaf))
            shape = list(leaf.shape)
        else:
            kind, shape = "array", list(np.shape(leaf))
            if isinstance(leaf, (bool, int, float)) and spec["kind"].startswith("python"):
                dtype = spec["dtype"]  # a Python number restores as one, whatever its width
            else:
                dtype = np.dtype(leaf.dtype if hasattr(leaf, "dtype") else np.asarray(leaf).dtype)
                dtype = dtype.name
        saved_kind = "key" if spec["kind"] == "key" else "array"
        saved_dtype = spec.get("impl", spec["dtype"]) if saved_kind == "key" else spec["dtype"]
        if (saved_kind, saved_dtype, spec["shape"]) != (kind, dtype, shape):
            problems.append(
                f"{spec['path']}: checkpoint {_describe(saved_kind, saved_dtype, spec['shape'])}, "
                f"like {_describe(kind, dtype, shape)}"
            )
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise CheckpointError(f"{where}: {problems[0]}{more}")
    return flat


def _decode(spec: dict, payload: memoryview, like_leaf: Any = None) -> Any:
    """One leaf: a key array, a Python number, or an array placed like ``like_leaf``."""
    dtype = np.dtype(jnp.dtype(spec["dtype"])).newbyteorder("<")
    count = int(np.prod(spec["data_shape"], dtype=np.int64))
    data = np.frombuffer(payload, dtype, count, spec["offset"]).reshape(spec["data_shape"])
    data = data.astype(data.dtype.newbyteorder("="))  # a native-order copy we own
    if spec["kind"].startswith("python_"):
        convert = {"python_bool": bool, "python_int": int, "python_float": float}
        return convert[spec["kind"]](data.item())
    if isinstance(like_leaf, np.ndarray) and spec["kind"] != "key":
        return data
    if isinstance(like_leaf, jax.Array) and not like_leaf.is_fully_addressable:
        return _place_global(spec, data, like_leaf)
    value = jnp.asarray(data)
    if spec["kind"] == "key":
        value = jax.random.wrap_key_data(value, impl=spec["impl"])
    if isinstance(like_leaf, jax.Array) and like_leaf.committed:
        # Committed as the target was; an uncommitted target stays uncommitted, so a
        # jitted step compiled for it does not compile again.
        value = jax.device_put(value, like_leaf.sharding)
    return value


def _place_global(spec: dict, data: np.ndarray, like_leaf: jax.Array) -> jax.Array:
    """An array spanning several processes, each filling its own shards from ``data``."""
    sharding = like_leaf.sharding
    if spec["kind"] == "key":
        if not sharding.is_fully_replicated:
            raise CheckpointError(
                f"optx.train.restore: {spec['path']} is a PRNG key array sharded across "
                "processes; replicate it (as TrainState.rng is) to restore it"
            )
        raw = jax.make_array_from_callback(data.shape, sharding, lambda index: data[index])
        return jax.random.wrap_key_data(raw, impl=spec["impl"])
    return jax.make_array_from_callback(data.shape, sharding, lambda index: data[index])


def _nest(specs: list[dict], values: list[Any]) -> Any:
    if not specs:
        return None
    root: dict = {}
    for spec, value in zip(specs, values):
        node = root
        entries = [tuple(e) for e in spec["entries"]]
        if not entries:
            return value
        for entry in entries[:-1]:
            node = node.setdefault(entry, {})
        node[entries[-1]] = value

    def build(node):
        if not isinstance(node, dict):
            return node
        if node and all(k[0] in ("idx", "flat") for k in node):
            return [build(node[k]) for k in sorted(node, key=lambda k: k[1])]
        return {k[1]: build(v) for k, v in node.items()}

    return build(root)


def restore(path: str | os.PathLike, like: Any = None) -> Any:
    """Reads a checkpoint written by `save`, verified before anything is returned.

    With ``like`` (e.g. a freshly created `TrainState`), the result has ``like``'s exact
    structure and types, each array placed with ``like``'s sharding; key paths, shapes,
    dtypes and PRNG key implementations must match, and the error names the first path
    that differs. Without ``like``, the result is nested dicts and lists of arrays keyed
    by the saved key paths (NamedTuple fields become dict keys).

    Args:
      path: a file written by `save`.
      like: a pytree with the expected structure (its values are not used or changed).

    Raises:
      CheckpointError: not a checkpoint, a newer format version, truncated, checksum
        mismatch, or a structure/shape/dtype mismatch with ``like``.
      FileNotFoundError: no file at ``path``.
    """
    header, payload = _read(path)
    specs = header["leaves"]
    if like is None:
        return _nest(specs, [_decode(spec, payload) for spec in specs])
    flat = _check_like(os.fspath(path), specs, like)
    values = [_decode(spec, payload, leaf) for spec, (_, leaf) in zip(specs, flat)]
    return jax.tree.unflatten(jax.tree.structure(like), values)
