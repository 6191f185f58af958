"""Make a TorchScript module hookable: a plain Python nn.Module tree that interprets its graphs.

Python forward hooks never run on a loaded TorchScript module (``RecursiveScriptModule``), and
``torch.fx`` cannot trace one. `make_hookable` rebuilds the module tree in Python instead:

* every submodule becomes a Python ``nn.Module`` under the SAME dotted name, holding the script
  module's own ``Parameter`` and buffer tensors (a module loaded with ``torch.jit.load`` hands out
  plain tensors: they are wrapped in ``nn.Parameter`` objects sharing their storage), so
  ``module.weight`` is the file's weight. Attributes of the script module (``stride``,
  ``inplace``, ``aux1`` ...) are copied.
* its class is a subclass of the original class when that class is known -- every ``torch.nn``
  class (``Conv2d``, ``BatchNorm2d``, ``ReLU``, ``Linear``, ``Sequential`` ...) and classes of
  ``torchvision`` -- so ``isinstance(m, nn.Conv2d)`` and ``type(m).__name__`` match the eager model;
  other classes get a subclass of `InterpretedModule` named after the original class
  (``BasicBlock``). Conv hyper-parameters that ``torch.jit.trace`` does not keep as attributes
  (``groups``, ``stride`` ...) are read off the traced graph.
* ``forward`` (and every other method) interprets the module's own TorchScript graph (not
  inlined) node by node: ``aten::*``/``prim::*`` operators with a schema are called through
  ``torch.ops`` (exact overload), constants, lists, tuples, dicts, ``prim::If``, ``prim::Loop``,
  ``prim::GetAttr``/``SetAttr``, ``prim::RaiseException``, ``prim::fork``/``aten::wait`` are
  evaluated in Python, ``prim::CallFunction`` runs the called TorchScript function's graph (inlined
  into a graph of its own), and ``prim::CallMethod[name="forward"]`` on a submodule CALLS the Python
  submodule -- which is what runs its forward hooks. A hook's return value replaces the output, an
  exception raised in a hook stops the forward pass, exactly as in eager PyTorch.
  Traced modules called more than once have methods ``forward1``, ``forward2`` ...: these also go
  through the submodule's ``__call__`` (hooks fire on every call).
* Operators are presented to ``__torch_function__`` modes under their aten names (``relu_``,
  ``max_pool2d``, ``cat`` ...), so modes such as activations.linearize's see them.

Files: ``tree.py`` builds the module tree (`make_hookable`), ``module.py`` is the stand-in module
class, ``classes.py`` resolves TorchScript type names to Python classes (the one resolver),
``interpreter.py`` compiles and runs graphs, ``ops.py`` holds the operators evaluated in Python,
``errors.py`` what went wrong.

The whole tree is compiled when `make_hookable` runs; an operator that cannot be interpreted
raises `TorchScriptUnsupportedError` (a ModelLoadError) naming the operator, the module and the
source line, instead of computing something wrong.

Unsupported: TorchScript classes (``prim::CreateObject``, methods called on script objects),
``with`` statements (``prim::Enter``/``prim::Exit``), ``isinstance`` checks left in the graph
(``prim::isinstance``), in-place operators on lists/dicts other than the usual Python ones
(append/insert/extend/pop/clear/remove/reverse/sort/update/setdefault/item assignment), operators
on generic lists/dicts beyond the common ones (indexing, len, copy, +, *, slicing, in, keys,
values, items, get, sorted, index, count, ==), and any operator not registered with this
process's ``torch.ops``. Frozen modules (``torch.jit.freeze``)
have their submodules inlined away: they run, but expose no named layers; the internal operators
of ``torch.jit.optimize_for_inference`` (``prim::mkldnn_convolution``, ``prim::ConstantMKLDNNTensor``)
and of the fusers are refused. Tensor attributes that are neither parameters nor buffers are copied as plain
attributes (they do not follow ``.to(device)``). NamedTuple outputs are returned as their namedtuple
class when it is importable (torch, torchvision, or already imported), as plain tuples otherwise.
The converted module is not picklable (its classes are made at runtime); save the TorchScript file.
Training mode works for scripted modules (BatchNorm statistics update the shared buffers); traced
modules keep the mode they were traced in, as TorchScript itself does.
"""
from circuitscope.models.torchscript.errors import (
    TorchScriptUnsupportedError,
    remember_unhookable,
    unhookable_reason,
)
from circuitscope.models.torchscript.module import InterpretedModule
from circuitscope.models.torchscript.tree import is_script_module, make_hookable

__all__ = ["InterpretedModule", "TorchScriptUnsupportedError", "is_script_module", "make_hookable",
           "remember_unhookable", "unhookable_reason"]
