"""Hooks that capture (and stop at) named layers."""
from circuitscope.activations.hooks import (
    StopForward,
    capture_layers,
    first_tensor,
    forward_until,
    get_module,
)

__all__ = ["StopForward", "capture_layers", "first_tensor", "forward_until", "get_module"]
