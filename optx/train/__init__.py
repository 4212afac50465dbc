"""optx.train: a pure jitted train step, parallel drivers, a callback loop and checkpoints."""

from optx.train._state import TrainState as TrainState

__all__ = ["TrainState"]
