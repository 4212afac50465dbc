"""The training state carried through a pure train step."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optx import _validate
from optx._core import GradientTransformation
from optx._flat import FlatParams


class TrainState(NamedTuple):
    """Everything a train step reads and writes; a pytree of arrays.

    Attributes:
      step: int32, the number of train steps taken.
      params: the model parameters.
      opt_state: the optimizer's state (``optimizer.init(params)``).
      rng: a typed PRNG key (``jax.random.key``), split by the step for dropout etc.
      model_state: non-trained model state (batch-norm statistics, ...), or ``None``.
    """

    step: jax.Array
    params: Any
    opt_state: Any
    rng: jax.Array
    model_state: Any = None

    @classmethod
    def create(
        cls,
        params: Any,
        optimizer: GradientTransformation,
        *,
        rng: jax.Array | int = 0,
        model_state: Any = None,
        flat: bool = False,
    ) -> TrainState:
        """A state at step 0: ``optimizer.init(params)`` and a key from ``rng``.

        With ``flat=True`` (the flat mode) the params are held as `optx.FlatParams` (one
        buffer per dtype and sharding group) and the optimizer state is built on them, so
        every elementwise update and the apply run once per buffer; the train step still
        hands ``loss_fn`` the ordinary tree (``params.tree()``), and ``state.params.tree()``
        gives it back.

        Args:
          params: the initial parameters.
          optimizer: the gradient transformation the step will apply.
          rng: a typed key, or an int seed.
          model_state: optional non-trained state carried along.
          flat: keyword-only; hold the params as `optx.FlatParams` (the flat mode).

        Examples:
          >>> import jax.numpy as jnp, optx
          >>> state = optx.train.TrainState.create({"w": jnp.zeros(2)}, optx.sgd(0.1))
          >>> int(state.step)
          0
        """
        _validate.check_transformation("optx.train.TrainState.create", "optimizer", optimizer)
        key = jax.random.key(rng) if isinstance(rng, int) else rng
        params = FlatParams.from_tree(params) if flat else params
        return cls(
            step=jnp.zeros([], jnp.int32),
            params=params,
            opt_state=_unaliased(params, optimizer.init(params)),
            rng=key,
            model_state=model_state,
        )


def _unaliased(params: Any, opt_state: Any) -> Any:
    """``opt_state`` with every array that is also a params leaf (or repeated) copied.

    An ``init`` may keep ``params`` themselves (slow weights, EMA); a train step that
    donates the state must not donate one buffer twice, so those leaves get their own copy.
    """
    seen = {id(x) for x in jax.tree.leaves(params)}

    def one(x):
        if isinstance(x, jax.Array) and id(x) in seen:
            return jnp.copy(x)
        seen.add(id(x))
        return x

    return jax.tree.map(one, opt_state)
