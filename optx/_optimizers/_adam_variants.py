"""Adam variants: AdaMax(W), AMSGrad, RAdam, NAdam(W), AdaBelief, Yogi, QHAdam."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from optx import _validate
from optx._core import GradientTransformation, ScalarOrSchedule, chain
from optx.transforms import (
    add_decayed_weights,
    scale_by_adam,
    scale_by_adamax,
    scale_by_amsgrad,
    scale_by_belief,
    scale_by_learning_rate,
    scale_by_nadam,
    scale_by_qhadam,
    scale_by_radam,
    scale_by_yogi,
)

Mask = Any | Callable[[Any], Any] | None


def _lr(call: str, learning_rate: Any) -> Any:
    _validate.check_non_negative(call, "learning_rate", learning_rate)
    return scale_by_learning_rate(learning_rate)


@_validate.public_call("optx.adamax")
def adamax(
    learning_rate: ScalarOrSchedule = 2e-3,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    *,
    eps_in_max: bool = True,
) -> GradientTransformation:
    """AdaMax, Adam with an infinity norm (Kingma and Ba, 2014, section 7.1).

    Update rule::

        m = b1 * m + (1 - b1) * g
        u_inf = max(b2 * u_inf, |g| + eps)
        w = w - learning_rate / (1 - b1**t) * m / u_inf

    ``chain(scale_by_adamax, scale_by_learning_rate)``. Default learning rate 2e-3 as the
    paper, PyTorch and MXNet. Same as Optax and PyTorch; MXNet 1.x is ``eps_in_max=False,
    eps=0``, MXNet 2.0 ``eps_in_max=False`` (see `scale_by_adamax`).

    torch.optim.Adamax(lr, betas=(b1, b2), eps): use ``adamax(lr, b1, b2, eps)`` (eps inside
    the maximum, the default); its weight_decay: chain `add_decayed_weights` first.

    Args:
      learning_rate: >= 0.
      b1, b2, eps, eps_in_max: as `scale_by_adamax`.

    Raises:
      ValueError: e.g. ``optx.adamax(b2=1.0)``.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.adamax(0.1)
      >>> w = jnp.array([1.0])
      >>> optx.apply_updates(w, tx.update(jnp.array([5.0]), tx.init(w), w)[0])
      Array([0.9], dtype=float32)

    References:
      Kingma and Ba, 2014, Adam: A Method for Stochastic Optimization,
      https://arxiv.org/abs/1412.6980
    """
    return chain(
        scale_by_adamax(b1, b2, eps, eps_in_max=eps_in_max), _lr("optx.adamax", learning_rate)
    )


@_validate.public_call("optx.adamaxw")
def adamaxw(
    learning_rate: ScalarOrSchedule = 2e-3,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: Mask = None,
    *,
    eps_in_max: bool = True,
) -> GradientTransformation:
    """AdaMax with decoupled weight decay, multiplied by the learning rate (as Optax).

    Update rule: ``w = w - learning_rate * (adamax_direction + weight_decay * w)``;
    ``chain(scale_by_adamax, add_decayed_weights(weight_decay, mask), scale_by_learning_rate)``.

    Args:
      learning_rate: >= 0.
      b1, b2, eps, eps_in_max: as `adamax`.
      weight_decay: >= 0, hyperparameter ``weight_decay``.
      mask: which leaves to decay (bool pytree or ``params -> bool pytree``).

    References:
      Loshchilov and Hutter, 2019, Decoupled Weight Decay Regularization,
      https://arxiv.org/abs/1711.05101
    """
    return chain(
        scale_by_adamax(b1, b2, eps, eps_in_max=eps_in_max),
        add_decayed_weights(weight_decay, mask),
        _lr("optx.adamaxw", learning_rate),
    )


@_validate.public_call("optx.amsgrad")
def amsgrad(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    mu_dtype: Any = None,
    *,
    nu_dtype: Any = None,
    max_of: str = "corrected",
) -> GradientTransformation:
    """AMSGrad: Adam with a non-decreasing second moment (Reddi et al., 2018).

    Update rule: ``w = w - learning_rate * m_hat / (sqrt(v_max) + eps)``, with ``v_max`` the
    running maximum of the bias-corrected second moment (``max_of="corrected"``, Optax) or
    the maximum of the raw moment, corrected afterwards (``max_of="raw"``, PyTorch's
    ``Adam(amsgrad=True)``); see `scale_by_amsgrad`.

    torch.optim.Adam(amsgrad=True): use ``amsgrad(lr, b1, b2, eps, max_of="raw")``.

    Args:
      learning_rate: >= 0.
      b1, b2, eps, eps_root, mu_dtype, nu_dtype, max_of: as `scale_by_amsgrad`.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.amsgrad(0.1, max_of="raw")
      >>> w = jnp.array([1.0])
      >>> optx.apply_updates(w, tx.update(jnp.array([5.0]), tx.init(w), w)[0])
      Array([0.9], dtype=float32)

    References:
      Reddi et al., 2018, On the Convergence of Adam and Beyond,
      https://openreview.net/forum?id=ryQu7f-RZ
    """
    return chain(
        scale_by_amsgrad(b1, b2, eps, eps_root, mu_dtype, nu_dtype=nu_dtype, max_of=max_of),
        _lr("optx.amsgrad", learning_rate),
    )


@_validate.public_call("optx.radam")
def radam(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    threshold: ScalarOrSchedule = 5.0,
    *,
    softplus_beta: ScalarOrSchedule = 0.0,
    eps_convention: str = "corrected",
) -> GradientTransformation:
    """Rectified Adam (Liu et al., 2020).

    Update rule: ``w = w - learning_rate * r_t * m_hat / (sqrt(v_hat) + eps)`` once the
    variance estimate is tractable (``rho_t >= threshold``), else ``w - learning_rate *
    m_hat``; see `scale_by_radam`. Optax's defaults; fastai's ``RAdam`` is ``radam(lr,
    b2=0.99, eps=1e-5, softplus_beta=beta)``.

    torch.optim.RAdam(lr, betas=(b1, b2), eps): use ``radam(lr, b1, b2, eps,
    eps_convention="hat")``; its weight_decay (L2): chain `add_decayed_weights` first.

    Args:
      learning_rate: >= 0.
      b1, b2, eps, eps_root, threshold, softplus_beta, eps_convention: as
        `scale_by_radam`.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.radam(0.1)
      >>> w = jnp.array([1.0])
      >>> optx.apply_updates(w, tx.update(jnp.array([5.0]), tx.init(w), w)[0])
      Array([0.5], dtype=float32)

    References:
      Liu et al., 2020, On the Variance of the Adaptive Learning Rate and Beyond,
      https://arxiv.org/abs/1908.03265
    """
    return chain(
        scale_by_radam(
            b1,
            b2,
            eps,
            eps_root,
            threshold,
            softplus_beta=softplus_beta,
            eps_convention=eps_convention,
        ),
        _lr("optx.radam", learning_rate),
    )


def _nadam_direction(call, b1, b2, eps, eps_root, mu_dtype, nu_dtype, nesterov, schedule_decay):
    if nesterov:
        return scale_by_nadam(b1, b2, eps, eps_root, schedule_decay, mu_dtype, nu_dtype=nu_dtype)
    if not (isinstance(schedule_decay, (int, float)) and schedule_decay == 0):
        raise ValueError(
            f"{call}(nesterov=False, schedule_decay={schedule_decay!r}): Dozat's momentum "
            "schedule needs the Nesterov first moment. Pass nesterov=True, or "
            "schedule_decay=0.0 for plain Adam."
        )
    return scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nu_dtype=nu_dtype)


@_validate.public_call("optx.nadam")
def nadam(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = True,
    schedule_decay: ScalarOrSchedule = 0.0,
    nu_dtype: Any = None,
) -> GradientTransformation:
    """NAdam: Adam with a Nesterov first moment, optionally with Dozat's momentum schedule.

    Update rule: ``w = w - learning_rate * nadam_direction``, see `scale_by_nadam`.
    With the defaults this is Optax's `nadam` (``adam(nesterov=True)``, no momentum
    schedule), with the same positional arguments. ``schedule_decay=0.004`` (keyword-only)
    gives Dozat's schedule as in MXNet, Keras and PyTorch's NAdam (PyTorch's
    ``momentum_decay``; its learning rate is 2e-3). The schedule's product is kept in this
    optimizer's own state, not shared across parameters as in MXNet.
    ``nesterov=False`` is plain Adam (Optax's switch).

    torch.optim.NAdam(lr, betas=(b1, b2), eps, momentum_decay): use ``nadam(lr, b1, b2, eps,
    schedule_decay=momentum_decay)``: PyTorch's ``momentum_decay`` (psi, default 4e-3) is
    this ``schedule_decay``, the same rule; its weight_decay: chain `add_decayed_weights`
    first.

    Args:
      learning_rate: >= 0.
      b1, b2, eps, eps_root, mu_dtype: as `scale_by_nadam`.
      nesterov: keyword-only; False gives plain Adam (then ``schedule_decay`` must be 0).
      schedule_decay: keyword-only, >= 0: Dozat's momentum schedule (0: none, Optax).
      nu_dtype: keyword-only; as `scale_by_nadam`.

    Raises:
      ValueError: ``nesterov=False`` with a nonzero ``schedule_decay``; invalid betas/eps.

    Examples:
      >>> import jax.numpy as jnp, optx
      >>> tx = optx.nadam(0.1)
      >>> w = jnp.array([1.0])
      >>> optx.apply_updates(w, tx.update(jnp.array([5.0]), tx.init(w), w)[0])
      Array([0.85263...], dtype=float32)

    References:
      Dozat, 2016, Incorporating Nesterov Momentum into Adam,
      https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ
    """
    return chain(
        _nadam_direction(
            "optx.nadam", b1, b2, eps, eps_root, mu_dtype, nu_dtype, nesterov, schedule_decay
        ),
        _lr("optx.nadam", learning_rate),
    )


@_validate.public_call("optx.nadamw")
def nadamw(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-8,
    eps_root: ScalarOrSchedule = 0.0,
    mu_dtype: Any = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: Mask = None,
    *,
    nesterov: bool = True,
    schedule_decay: ScalarOrSchedule = 0.0,
    nu_dtype: Any = None,
) -> GradientTransformation:
    """NAdam with decoupled weight decay (multiplied by the learning rate, as Optax).

    Update rule: ``w = w - learning_rate * (nadam_direction + weight_decay * w)``, the
    direction as in `scale_by_nadam`.

    ``chain(scale_by_nadam, add_decayed_weights(weight_decay, mask), scale_by_learning_rate)``;
    with the defaults it equals Optax's `nadamw` (same positional arguments). PyTorch's
    ``NAdam(decoupled_weight_decay=True)`` is the same with ``schedule_decay=0.004``.

    Args:
      learning_rate: >= 0.
      b1, b2, eps, eps_root, mu_dtype: as `nadam`.
      weight_decay: >= 0.
      mask: which leaves to decay.
      nesterov, schedule_decay, nu_dtype: keyword-only; as `nadam`.

    Raises:
      ValueError: ``nesterov=False`` with a nonzero ``schedule_decay``; invalid betas/eps.

    References:
      Dozat, 2016, Incorporating Nesterov Momentum into Adam,
      https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ
      Loshchilov and Hutter, 2019, Decoupled Weight Decay Regularization,
      https://arxiv.org/abs/1711.05101
    """
    return chain(
        _nadam_direction(
            "optx.nadamw", b1, b2, eps, eps_root, mu_dtype, nu_dtype, nesterov, schedule_decay
        ),
        add_decayed_weights(weight_decay, mask),
        _lr("optx.nadamw", learning_rate),
    )


@_validate.public_call("optx.adabelief")
def adabelief(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-16,
    eps_root: ScalarOrSchedule = 1e-16,
) -> GradientTransformation:
    """AdaBelief (Zhuang et al., 2020): Adam scaled by the belief in the gradient.

    Update rule: ``w = w - learning_rate * m_hat / (sqrt(s_hat) + eps)`` with ``s`` the
    moving average of ``(g - m)**2 + eps_root``; see `scale_by_belief`. Optax's and the
    paper's defaults.

    Args:
      learning_rate: >= 0.
      b1, b2, eps, eps_root: as `scale_by_belief`.

    References:
      Zhuang et al., 2020, AdaBelief Optimizer: Adapting Stepsizes by the Belief in
      Observed Gradients, https://arxiv.org/abs/2010.07468
    """
    return chain(scale_by_belief(b1, b2, eps, eps_root), _lr("optx.adabelief", learning_rate))


@_validate.public_call("optx.yogi")
def yogi(
    learning_rate: ScalarOrSchedule = 1e-2,
    b1: ScalarOrSchedule = 0.9,
    b2: ScalarOrSchedule = 0.999,
    eps: ScalarOrSchedule = 1e-3,
    eps_root: ScalarOrSchedule = 0.0,
    initial_accumulator_value: float = 1e-6,
) -> GradientTransformation:
    """Yogi (Zaheer et al., 2018): Adam with an additive second-moment update.

    Update rule: ``w = w - learning_rate * m_hat / (sqrt(v_hat) + eps)`` with
    ``v = v - (1 - b2) * sign(v - g**2) * g**2``; see `scale_by_yogi` (where the first
    moment starts differs from Optax by ``initial_accumulator_value``). Default learning
    rate 1e-2 and eps 1e-3 as in the paper.

    Args:
      learning_rate: >= 0.
      b1, b2, eps, eps_root, initial_accumulator_value: as `scale_by_yogi`.

    References:
      Zaheer et al., 2018, Adaptive Methods for Nonconvex Optimization,
      https://papers.nips.cc/paper/8186-adaptive-methods-for-nonconvex-optimization
    """
    return chain(
        scale_by_yogi(b1, b2, eps, eps_root, initial_accumulator_value),
        _lr("optx.yogi", learning_rate),
    )


@_validate.public_call("optx.qhadam")
def qhadam(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: ScalarOrSchedule = 0.999,
    b2: ScalarOrSchedule = 0.999,
    nu1: ScalarOrSchedule = 0.7,
    nu2: ScalarOrSchedule = 1.0,
    eps: ScalarOrSchedule = 1e-8,
) -> GradientTransformation:
    """QHAdam (Ma and Yarats, 2019), with fastai's defaults.

    Update rule::

        w = w - learning_rate * ((1 - nu1) g + nu1 m_hat) / (sqrt((1 - nu2) g**2 + nu2 v_hat) + eps)

    ``chain(scale_by_qhadam, scale_by_learning_rate)``; fastai's ``QHAdam(lr, mom, sqr_mom,
    nu_1, nu_2, eps)`` with ``wd=0``. Not in Optax.

    Args:
      learning_rate: >= 0.
      b1, b2, nu1, nu2, eps: as `scale_by_qhadam`.

    References:
      Ma and Yarats, 2019, Quasi-hyperbolic momentum and Adam for deep learning,
      https://arxiv.org/abs/1810.06801
    """
    return chain(scale_by_qhadam(b1, b2, nu1, nu2, eps), _lr("optx.qhadam", learning_rate))
