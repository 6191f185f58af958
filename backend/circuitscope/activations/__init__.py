"""Model internals: the one hook primitive (``Trace``: capture, edit, stop) and helpers built on it.

Only this package registers torch hooks; everything else calls ``Trace`` or the helpers here.
"""
from circuitscope.activations.capture import capture_layers, forward_until, forward_until_pre_relu
from circuitscope.activations.hooks import StopForward, UnknownLayerError, first_tensor, get_module
from circuitscope.activations.linearize import linearized
from circuitscope.activations.trace import ChannelEdit, Trace, replace_first_tensor

__all__ = [
    "ChannelEdit",
    "StopForward",
    "Trace",
    "UnknownLayerError",
    "capture_layers",
    "first_tensor",
    "forward_until",
    "forward_until_pre_relu",
    "get_module",
    "linearized",
    "replace_first_tensor",
]
