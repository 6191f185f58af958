"""The graph interpreter: compiles a TorchScript graph once into a list of Python steps over an
environment {value id: object}, then runs it. Nodes with an operator schema call ``torch.ops``
(exact overload, presented to ``__torch_function__`` modes under their aten names); control flow,
attributes, method and function calls are evaluated here (see the package docstring)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from circuitscope.models.torchscript.classes import namedtuple_wrapper
from circuitscope.models.torchscript.errors import TorchScriptUnsupportedError
from circuitscope.models.torchscript.module import call_method, get_attr
from circuitscope.models.torchscript.ops import (
    GENERIC,
    INTERNAL_PRIM,
    MUTATING,
    NATIVE_BY_KIND,
    NATIVE_BY_SCHEMA,
    Future,
    has_type_var,
    op_function,
)

__all__ = ["Compiler", "Program"]


class Program:
    """A compiled graph: constants pre-filled, then a list of steps over an env {value id: object}."""

    __slots__ = ("name", "consts", "inputs", "steps", "outputs", "arg_names", "wrap_output")

    def __init__(self, name: str):
        self.name = name
        self.consts: dict[int, Any] = {}
        self.inputs: list[int] = []
        self.steps: list[Callable[[dict], None]] = []
        self.outputs: list[int] = []
        self.arg_names: list[str] = []
        self.wrap_output: Callable[[Any], Any] | None = None

    def bind(self, args: tuple, kwargs: dict) -> tuple:
        names = self.arg_names
        vals = list(args)
        for n in names[len(vals):]:
            if n not in kwargs:
                raise TypeError(f"{self.name}: missing argument '{n}'")
            vals.append(kwargs.pop(n))
        if kwargs:
            raise TypeError(f"{self.name}: unexpected keyword arguments {sorted(kwargs)}")
        return tuple(vals)

    def run(self, args: tuple) -> Any:
        if len(args) != len(self.inputs):
            raise TypeError(f"{self.name} takes {len(self.inputs) - 1} arguments "
                            f"({', '.join(self.arg_names)}), got {len(args) - 1}")
        env = dict(self.consts)
        for i, a in zip(self.inputs, args):
            env[i] = a
        for step in self.steps:
            step(env)
        if len(self.outputs) == 1:
            out = env[self.outputs[0]]
        else:
            out = tuple(env[o] for o in self.outputs)
        return self.wrap_output(out) if self.wrap_output is not None else out


class _Unsupported(Exception):
    pass


class Compiler:
    def __init__(self) -> None:
        self.functions: dict[str, Program] = {}
        self.ops: dict[str, Callable] = {}

    # --- entry points
    def compile(self, graph: torch._C.Graph, name: str, arg_names: list[str] | None = None) -> Program:
        prog = Program(name)
        prog.inputs = [v.unique() for v in graph.inputs()]
        prog.arg_names = list(arg_names or [])
        prog.steps = self._block(graph.nodes(), prog)
        outs = list(graph.outputs())
        prog.outputs = [v.unique() for v in outs]
        if len(outs) == 1:
            prog.wrap_output = namedtuple_wrapper(outs[0].type())
        return prog

    def _function(self, call: torch._C.Node, where: str) -> Program:
        fnode = call.inputsAt(0).node()
        qual = str(fnode.output().type())
        prog = self.functions.get(qual)
        if prog is not None:
            return prog
        g = torch._C.Graph()
        args = []
        for v in list(call.inputs())[1:]:
            nv = g.addInput()
            nv.setType(v.type())
            args.append(nv)
        fc = g.createClone(fnode, lambda v: v)  # type: ignore[attr-defined]  # missing from torch's stubs
        g.insertNode(fc)
        c2 = g.create("prim::CallFunction", [fc.output(), *args], call.outputsSize())
        g.insertNode(c2)
        for o, orig in zip(c2.outputs(), call.outputs()):
            o.setType(orig.type())
            g.registerOutput(o)
        torch._C._jit_pass_inline(g)
        placeholder = Program(qual)
        self.functions[qual] = placeholder  # recursion guard (TorchScript has no recursion anyway)
        try:
            prog = self.compile(g, f"function {qual} (called from {where})")
        except BaseException:
            del self.functions[qual]
            raise
        self.functions[qual] = prog
        return prog

    # --- blocks and nodes
    def _block(self, nodes: Any, prog: Program) -> list[Callable[[dict], None]]:
        steps = []
        for node in nodes:
            try:
                step = self._node(node, prog)
            except _Unsupported as e:
                raise TorchScriptUnsupportedError(self._message(node, prog, str(e))) from None
            if step is not None:
                steps.append(step)
        return steps

    @staticmethod
    def _message(node: torch._C.Node, prog: Program, why: str) -> str:
        src = ""
        try:
            rng = str(node.sourceRange()).strip().splitlines()  # a str at runtime; the stubs say SourceRange
            src = f" (at {rng[0].strip()})" if rng else ""
        except Exception:  # noqa: BLE001
            pass
        return (f"Cannot make this TorchScript model hookable: operator '{node.kind()}' in {prog.name}{src} "
                f"is not supported: {why}. Load the original nn.Module instead (model kind 'checkpoint' with "
                f"an 'arch', or 'factory').")

    def _node(self, node: torch._C.Node, prog: Program) -> Callable[[dict], None] | None:
        kind = node.kind()
        ins = [v.unique() for v in node.inputs()]
        outs = [v.unique() for v in node.outputs()]

        if kind == "prim::Constant":
            out = node.output()
            if out.type().kind() == "FunctionType":
                return None  # only used by prim::CallFunction, resolved at compile time
            prog.consts[outs[0]] = out.toIValue() if node.hasAttributes() else None
            return None
        if kind == "prim::GetAttr":
            attr = node.s("name")
            src, dst = ins[0], outs[0]

            def get_attr_step(env: dict) -> None:
                env[dst] = get_attr(env[src], attr)
            return get_attr_step
        if kind == "prim::SetAttr":
            attr = node.s("name")
            obj_i, val_i = ins

            def set_attr(env: dict) -> None:
                setattr(env[obj_i], attr, env[val_i])
            return set_attr
        if kind == "prim::CallMethod":
            mname = node.s("name")
            obj_i, arg_is = ins[0], ins[1:]
            out_i = outs[0] if outs else None

            def call_method_step(env: dict) -> None:
                r = call_method(env[obj_i], mname, tuple(env[i] for i in arg_is))
                if out_i is not None:
                    env[out_i] = r
            return call_method_step
        if kind == "prim::CallFunction":
            fprog = self._function(node, prog.name)
            arg_is = ins[1:]
            n_out = len(outs)

            def call_function(env: dict) -> None:
                r = fprog.run(tuple(env[i] for i in arg_is))
                if n_out == 1:
                    env[outs[0]] = r
                elif n_out > 1:
                    for o, v in zip(outs, r):
                        env[o] = v
            return call_function
        if kind == "prim::If":
            then_b, else_b = list(node.blocks())
            then_steps, else_steps = self._block(then_b.nodes(), prog), self._block(else_b.nodes(), prog)
            then_outs = [v.unique() for v in then_b.outputs()]
            else_outs = [v.unique() for v in else_b.outputs()]
            cond_i = ins[0]

            def if_(env: dict) -> None:
                if env[cond_i]:
                    steps, bouts = then_steps, then_outs
                else:
                    steps, bouts = else_steps, else_outs
                for s in steps:
                    s(env)
                vals = [env[b] for b in bouts]
                for o, v in zip(outs, vals):
                    env[o] = v
            return if_
        if kind == "prim::Loop":
            (body,) = list(node.blocks())
            body_steps = self._block(body.nodes(), prog)
            b_ins = [v.unique() for v in body.inputs()]
            b_outs = [v.unique() for v in body.outputs()]
            trip_i, cond_i, init_is = ins[0], ins[1], ins[2:]

            def loop(env: dict) -> None:
                trips, cond = env[trip_i], env[cond_i]
                vals = [env[i] for i in init_is]
                i = 0
                while cond and i < trips:
                    env[b_ins[0]] = i
                    for slot, v in zip(b_ins[1:], vals):
                        env[slot] = v
                    for s in body_steps:
                        s(env)
                    cond = env[b_outs[0]]
                    vals = [env[b] for b in b_outs[1:]]
                    i += 1
                for o, v in zip(outs, vals):
                    env[o] = v
            return loop
        if kind in ("prim::ListUnpack", "prim::TupleUnpack"):
            src = ins[0]

            def unpack(env: dict) -> None:
                seq = env[src]
                if len(seq) != len(outs):
                    raise ValueError(f"{kind}: expected {len(outs)} values, got {len(seq)}")
                for o, v in zip(outs, seq):
                    env[o] = v
            return unpack
        if kind == "prim::TupleSlice":
            beg, end = node.i("beg"), node.i("end")
            return self._simple(lambda t: t[beg:end], ins, outs)
        if kind == "prim::fork":
            sub = self.compile(node.g("Subgraph"), f"{prog.name} (forked)")
            return self._simple(lambda *a: Future(sub.run(a)), ins, outs)
        if kind in NATIVE_BY_KIND:
            return self._simple(NATIVE_BY_KIND[kind], ins, outs)
        return self._schema_op(node, ins, outs)

    @staticmethod
    def _simple(fn: Callable, ins: list[int], outs: list[int]) -> Callable[[dict], None]:
        n_out = len(outs)
        if n_out == 1:
            o = outs[0]

            def step(env: dict) -> None:
                env[o] = fn(*[env[i] for i in ins])
        elif n_out == 0:
            def step(env: dict) -> None:
                fn(*[env[i] for i in ins])
        else:
            def step(env: dict) -> None:
                r = fn(*[env[i] for i in ins])
                for oo, v in zip(outs, r):
                    env[oo] = v
        return step

    def _schema_op(self, node: torch._C.Node, ins: list[int], outs: list[int]) -> Callable[[dict], None]:
        kind = node.kind()
        if kind.startswith("prim::") and INTERNAL_PRIM.search(kind):
            raise _Unsupported("it is an internal operator of TorchScript's optimisation passes "
                               "(torch.jit.optimize_for_inference / fusers), not callable from Python; "
                               "save the module before optimising it")
        try:
            text = node.schema()
        except Exception:  # noqa: BLE001
            text = "(no schema)"
        if text == "(no schema)":
            raise _Unsupported("it has no operator schema and no Python equivalent here")
        schema = torch._C.parse_schema(text)
        full = f"{schema.name}.{schema.overload_name}" if schema.overload_name else schema.name
        if full in NATIVE_BY_SCHEMA:
            return self._simple(NATIVE_BY_SCHEMA[full], ins, outs)
        ns, _, base = schema.name.partition("::")
        for a in schema.arguments:
            info = a.alias_info
            if info is not None and info.is_write and a.type.kind() in ("ListType", "DictType"):
                if base in MUTATING:
                    return self._simple(MUTATING[base], ins, outs)
                raise _Unsupported(f"in-place operator '{full}' on a list/dict is not supported")
        if any(has_type_var(a.type) for a in schema.arguments):
            if base in GENERIC:
                return self._simple(GENERIC[base], ins, outs)
            raise _Unsupported(f"operator '{full}' on generic lists/dicts ({text}) has no Python equivalent here")
        fn = self.ops.get(full)
        if fn is None:
            try:
                packet = getattr(getattr(torch.ops, ns), base)
                overload = getattr(packet, schema.overload_name or "default")
            except Exception as e:  # noqa: BLE001
                raise _Unsupported(f"torch.ops has no operator '{full}' ({type(e).__name__})") from None
            fn = op_function(overload, base)
            self.ops[full] = fn
        kw_names = [a.name for a in schema.arguments if a.kwarg_only]
        n_pos = len(schema.arguments) - len(kw_names)
        if kw_names and len(ins) != len(schema.arguments):
            raise _Unsupported(f"node has {len(ins)} inputs for schema {text}")
        if kw_names:
            pos_is, kw_is = ins[:n_pos], list(zip(kw_names, ins[n_pos:]))
            n_out = len(outs)

            def op_kw(env: dict) -> None:
                r = fn(*[env[i] for i in pos_is], **{k: env[i] for k, i in kw_is})
                if n_out == 1:
                    env[outs[0]] = r
                elif n_out > 1:
                    for o, v in zip(outs, r):
                        env[o] = v
            return op_kw
        return self._simple(fn, ins, outs)
