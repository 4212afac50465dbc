"""Data-parallel drivers: one step body under ``shard_map``, ``pmap`` or ``jit`` with shardings.

All three average the loss and the gradients over the global batch, so they agree with
single-device full-batch training to float32 noise. ``shard_map`` is the default;
``pmap`` is kept as the legacy path (it is built on ``jit(shard_map)`` in JAX 0.10);
``jit`` lets the compiler partition the single-device body from the input shardings.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from optx import _validate
from optx._core import GradientTransformation
from optx.train._donation import DonatingStep
from optx.train._state import TrainState
from optx.train._step import (
    LossFn,
    _check_step_args,
    apply_gradients,
    make_grad_fn,
    make_step_body,
)
from optx.train._zero import zero_shardings

MODES = ("shard_map", "pmap", "jit")


_CALL = "optx.train.data_parallel"


def _is_key(x: Any) -> bool:
    return jax.dtypes.issubdtype(getattr(x, "dtype", None), jax.dtypes.prng_key)


def _place(x: Any, sharding: NamedSharding) -> Any:
    """Puts ``x`` (identical on every process) on ``sharding``; multi-process safe."""
    if x is None:
        return None
    if _is_key(x):
        impl = jax.random.key_impl(x)
        data = _place(jax.random.key_data(x), sharding)
        return jax.random.wrap_key_data(data, impl=impl)
    if sharding.is_fully_addressable:
        # device_put may alias the caller's buffer on one device (even with
        # may_alias=False), and the step donates it: copy so the caller's arrays survive.
        x = jnp.copy(x) if isinstance(x, jax.Array) else x
        return jax.device_put(x, sharding)
    host = np.asarray(x)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def _to_local(x: Any) -> Any:
    """A single-device copy of a (possibly sharded, possibly multi-process) array."""
    if not isinstance(x, jax.Array):
        return x
    if x.is_fully_replicated:
        return x.addressable_data(0)
    if x.is_fully_addressable:
        return jax.device_put(x, jax.local_devices()[0])
    from jax.experimental import multihost_utils

    return jnp.asarray(multihost_utils.process_allgather(x, tiled=True))


def batch_spec(axis_name: Any, batch_axis: int = 0) -> PartitionSpec:
    """``PartitionSpec`` splitting dimension ``batch_axis`` over ``axis_name``."""
    return PartitionSpec(*([None] * batch_axis), axis_name)


class DataParallel:
    """A data-parallel train step and the helpers that place its inputs.

    Built by `data_parallel`. Call it like the step: ``state, metrics = dp(state, batch)``,
    after placing the state with ``dp.replicate`` and each batch with ``dp.shard_batch``.

    Attributes:
      step: the compiled ``(state, batch) -> (state, metrics)``; the state is donated.
      mode: ``"shard_map"``, ``"pmap"`` or ``"jit"``.
      mesh: the device mesh (None for ``pmap``).
      devices: the devices the batch is split over.
      axis_name: the data axis.
      steps_per_call: batches per call (the batch then has a leading axis of that size).
      shard_opt_state: whether the optimizer state is split across the data axis (ZeRO-1).
    """

    def __init__(self, step, *, mode, mesh, devices, axis_name, steps_per_call, shard_opt_state):
        self.step = step
        self.mode = mode
        self.mesh = mesh
        self.devices = devices
        self.axis_name = axis_name
        self.steps_per_call = steps_per_call
        self.shard_opt_state = shard_opt_state

    def __call__(self, state: TrainState, batch: Any) -> tuple[TrainState, dict[str, Any]]:
        """Runs the step (``steps_per_call`` batches)."""
        return self.step(state, batch)

    @property
    def num_shards(self) -> int:
        """How many pieces the global batch is split into."""
        return len(self.devices)

    def state_shardings(self, state: TrainState) -> TrainState:
        """The ``NamedSharding`` of every leaf of ``state`` (``shard_map`` and ``jit`` modes)."""
        replicated = NamedSharding(self.mesh, PartitionSpec())
        # A TrainState-shaped tree whose leaves are shardings (not arrays, as its fields say).
        shardings = jax.tree.map(lambda _: replicated, state)
        if self.shard_opt_state:
            shardings = shardings._replace(
                opt_state=zero_shardings(state.opt_state, self.mesh, self.axis_name)
            )
        return shardings

    def replicate(self, state: TrainState) -> TrainState:
        """Places a state (identical on every process) where the step expects it.

        ``shard_map``/``jit``: replicated over the mesh (optimizer state split with
        ``shard_opt_state``); ``pmap``: stacked with a leading device axis.
        """
        if self.mode == "pmap":
            n = self.num_shards
            stacked = jax.tree.map(lambda x: jnp.broadcast_to(x, (n, *jnp.shape(x))), state)
            # Under the step's axis name, so the state's sharding is the one the step
            # returns and the second step does not recompile.
            place = jax.pmap(lambda s: s, axis_name=self.axis_name, devices=self.devices)
            return place(stacked)
        return jax.tree.map(_place, state, self.state_shardings(state))

    def shard_batch(self, batch: Any) -> Any:
        """Splits this process's batch over the data axis.

        The batch axis is 0, or 1 when ``steps_per_call > 1`` (axis 0 then indexes the
        steps). With several processes, pass each process's own part of the global batch;
        the result is the global batch (``jax.make_array_from_process_local_data``).

        Raises:
          ValueError: the local batch size does not divide evenly over the local devices.
        """
        batch_axis = 0 if self.steps_per_call == 1 else 1
        local = [d for d in self.devices if d.process_index == jax.process_index()]
        for leaf in jax.tree.leaves(batch):
            size = np.shape(leaf)[batch_axis]
            if size % len(local):
                raise ValueError(
                    f"optx.train.data_parallel: a batch leaf has {size} examples on axis "
                    f"{batch_axis}, which does not split evenly over {len(local)} local "
                    "devices; use a batch size divisible by the number of devices"
                )
        if self.mode == "pmap":
            n = self.num_shards

            def split(x):
                x = np.asarray(x)
                shape = x.shape
                x = x.reshape(
                    *shape[:batch_axis], n, shape[batch_axis] // n, *shape[batch_axis + 1 :]
                )
                return np.moveaxis(x, batch_axis, 0)

            return jax.tree.map(split, batch)
        sharding = NamedSharding(self.mesh, batch_spec(self.axis_name, batch_axis))
        return jax.tree.map(
            lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), batch
        )

    def unreplicate(self, tree: Any) -> Any:
        """One single-device copy of a replicated or sharded tree (state or metrics)."""
        if self.mode == "pmap":
            return jax.tree.map(lambda x: x[0], tree)
        return jax.tree.map(_to_local, tree)


def _shard_map_step(loss_fn, optimizer, mesh, axis_name, bspec, opts):
    body = make_step_body(loss_fn, optimizer, axis_name=axis_name, **opts)
    rep = PartitionSpec()
    mapped = jax.shard_map(body, mesh=mesh, in_specs=(rep, bspec), out_specs=(rep, rep))
    return DonatingStep(jax.jit(mapped, donate_argnums=0), _CALL)


def _zero_shard_map_step(loss_fn, optimizer, dp, bspec, opts):
    """Gradients under shard_map; the update on the global view with the opt state split."""
    has_aux, has_state, k = opts["has_aux"], opts["has_state"], opts["steps_per_call"]
    axis_name, rep = dp.axis_name, PartitionSpec()
    grad_fn = make_grad_fn(loss_fn, has_aux=has_aux, has_state=has_state, axis_name=axis_name)
    one_bspec = PartitionSpec(*bspec[1:]) if k > 1 else bspec

    def local_grads(params, model_state, key, batch):
        key = jax.random.fold_in(key, lax.axis_index(axis_name))
        return grad_fn(params, model_state, batch, key)

    mapped = jax.shard_map(
        local_grads, mesh=dp.mesh, in_specs=(rep, rep, rep, one_bspec), out_specs=rep
    )

    def one_step(state, batch):
        key = jax.random.fold_in(state.rng, state.step)
        loss, grads, aux, model_state = mapped(state.params, state.model_state, key, batch)
        state, metrics = apply_gradients(
            optimizer,
            state,
            loss,
            grads,
            aux,
            model_state,
            has_aux=has_aux,
            grad_norm=opts["grad_norm"],
        )
        return lax.with_sharding_constraint(state, dp.state_shardings(state)), metrics

    step = one_step if k == 1 else lambda state, batches: lax.scan(one_step, state, batches)
    return DonatingStep(jax.jit(step, donate_argnums=0), _CALL)


def _jit_step(loss_fn, optimizer, dp, bspec, opts):
    body = make_step_body(loss_fn, optimizer, axis_name=None, **opts)
    replicated = NamedSharding(dp.mesh, PartitionSpec())
    batch_sharding = NamedSharding(dp.mesh, bspec)

    def step(state, batch):
        batch = jax.tree.map(lambda x: lax.with_sharding_constraint(x, batch_sharding), batch)
        state, metrics = body(state, batch)
        state = lax.with_sharding_constraint(state, dp.state_shardings(state))
        return state, jax.tree.map(lambda m: lax.with_sharding_constraint(m, replicated), metrics)

    return DonatingStep(jax.jit(step, donate_argnums=0), _CALL)


def _pmap_step(loss_fn, optimizer, devices, axis_name, opts):
    body = make_step_body(loss_fn, optimizer, axis_name=axis_name, **opts)
    mapped = jax.pmap(body, axis_name=axis_name, devices=devices, donate_argnums=0)

    def step(state, batch):
        state, metrics = mapped(state, batch)
        return state, jax.tree.map(lambda m: m[0], metrics)

    return step


@_validate.public_call("optx.train.data_parallel")
def data_parallel(
    loss_fn: LossFn,
    optimizer: GradientTransformation,
    *,
    mode: str = "shard_map",
    mesh: Mesh | None = None,
    devices: Any = None,
    axis_name: str = "data",
    has_aux: bool = False,
    has_state: bool = False,
    steps_per_call: int = 1,
    grad_norm: bool = True,
    shard_opt_state: bool = False,
) -> DataParallel:
    """A data-parallel train step: the batch split over devices, gradients averaged.

    The same body as `make_train_step` (same ``loss_fn`` signatures, same metrics), run

    - ``mode="shard_map"`` (default): under ``jax.shard_map`` over ``mesh``; each device
      computes its shard's loss and gradients, ``lax.pmean`` averages them over
      ``axis_name``, and every device applies the same update to its replica;
    - ``mode="pmap"``: the same body under ``jax.pmap`` over ``devices`` (the legacy path;
      one host only; the state carries a leading device axis, see `DataParallel.replicate`);
    - ``mode="jit"``: the single-device body under ``jax.jit`` with the batch sharded over
      ``axis_name`` by ``NamedSharding``; the compiler partitions it.

    The loss and gradients are those of the global batch (the mean of equal-sized shards),
    so all modes match single-device full-batch training. Metrics are returned once (not
    per device). Sync once per step or every few steps in a host loop
    (``jax.block_until_ready``): CPU collectives deadlock with many calls in flight.

    ``shard_opt_state=True`` (ZeRO-1, ``shard_map`` and ``jit`` modes) splits every
    optimizer-state leaf along its largest dimension divisible by the number of devices
    (see `zero_shardings`). The gradients are still computed per shard and averaged, but the
    optimizer update runs on the global view under ``jit``, so the compiler partitions it
    and every reduction across parameters (``clip_by_global_norm``, trust ratios) stays
    exact.

    Works across processes after `optx.train.distributed.initialize` (``shard_map`` and
    ``jit`` modes): the default mesh spans ``jax.devices()``, and `DataParallel.shard_batch`
    assembles the global batch from each process's part.

    Args:
      loss_fn: the objective (see `make_train_step`).
      optimizer: the gradient transformation.
      mode: ``"shard_map"``, ``"pmap"`` or ``"jit"``.
      mesh: a mesh with ``axis_name`` among its axes; default a 1-D mesh over ``devices``.
      devices: devices to use when no mesh is given; default ``jax.devices()`` (``pmap``:
        ``jax.local_devices()``).
      axis_name: the data axis.
      has_aux, has_state, steps_per_call, grad_norm: as `make_train_step`.
      shard_opt_state: ZeRO-1: split the optimizer state across the data axis.

    Returns:
      A `DataParallel`: call it as ``dp(state, batch)``; place inputs with
      ``dp.replicate(state)`` and ``dp.shard_batch(batch)``; read results with
      ``dp.unreplicate(state)``.

    Raises:
      TypeError: ``loss_fn`` takes neither signature of `make_train_step`.
      ValueError: an unknown mode, ``shard_opt_state`` with ``pmap``, or ``axis_name`` not
        in ``mesh``.

    Examples:
      >>> import jax, jax.numpy as jnp, optx
      >>> loss_fn = lambda p, b, rng: jnp.mean((b["x"] * p - b["y"]) ** 2)
      >>> opt = optx.sgd(0.1)
      >>> dp = optx.train.data_parallel(loss_fn, opt)
      >>> state = dp.replicate(optx.train.TrainState.create(jnp.zeros([]), opt))
      >>> batch = dp.shard_batch({"x": jnp.ones(8), "y": jnp.full(8, 2.0)})
      >>> state, metrics = dp(state, batch)
      >>> float(metrics["loss"]), float(dp.unreplicate(state).params)
      (4.0, 0.4)
    """
    call = "optx.train.data_parallel"
    loss_fn = _check_step_args(call, loss_fn, optimizer, steps_per_call, has_state=has_state)
    _validate.check_choice(call, "mode", mode, MODES)
    if mode == "pmap":
        if shard_opt_state:
            raise ValueError(
                f"{call}: shard_opt_state (ZeRO-1) needs mode='shard_map' or mode='jit'; "
                "pmap replicates the whole state"
            )
        if mesh is not None:
            raise ValueError(f"{call}: mode='pmap' takes devices, not a mesh")
        devices = list(devices) if devices is not None else jax.local_devices()
    elif mesh is None:
        devices = list(devices) if devices is not None else jax.devices()
        mesh = jax.make_mesh(
            (len(devices),),
            (axis_name,),
            axis_types=(jax.sharding.AxisType.Auto,),
            devices=devices,
        )
    if mesh is not None:
        if axis_name not in mesh.shape:
            raise ValueError(
                f"{call}: axis_name {axis_name!r} is not an axis of the mesh (axes "
                f"{tuple(mesh.shape)}); pass axis_name= the mesh's data axis"
            )
        index = mesh.axis_names.index(axis_name)
        along = np.moveaxis(mesh.devices, index, 0)
        devices = list(along.reshape(along.shape[0], -1)[:, 0])
    opts = {
        "has_aux": has_aux,
        "has_state": has_state,
        "steps_per_call": steps_per_call,
        "grad_norm": grad_norm,
    }
    dp = DataParallel(
        None,
        mode=mode,
        mesh=mesh,
        devices=devices,
        axis_name=axis_name,
        steps_per_call=steps_per_call,
        shard_opt_state=shard_opt_state,
    )
    bspec = batch_spec(axis_name, 0 if steps_per_call == 1 else 1)
    if mode == "pmap":
        dp.step = _pmap_step(loss_fn, optimizer, devices, axis_name, opts)
    elif mode == "jit":
        dp.step = _jit_step(loss_fn, optimizer, dp, bspec, opts)
    elif shard_opt_state:
        dp.step = _zero_shard_map_step(loss_fn, optimizer, dp, bspec, opts)
    else:
        dp.step = _shard_map_step(loss_fn, optimizer, mesh, axis_name, bspec, opts)
    return dp
