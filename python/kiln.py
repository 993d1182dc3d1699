"""kiln.py — use kiln from Python: compile an ONNX model, run it on numpy arrays.

Needs only the `kiln` binary, a C compiler (`cc`) and numpy; no pip, no
build of its own.  `compile()` runs `kiln compile` into a scratch folder,
links the static library it writes into a shared object (the archive is
position independent) and loads that with ctypes; `Model.run()` calls the
generated `run` through the `kiln_model` descriptor of kiln.h
(docs/abi.md), so what Python computes is bit for bit what a C program
linking libNAME.a computes, and what `kiln run` writes.

    import numpy as np, kiln
    m = kiln.compile("model.onnx", shapes={"x": [1, 3, 224, 224]})
    (y,) = m.run(np.zeros((1, 3, 224, 224), np.float32))
    y = m.run({"x": x})["y"]           # by name: a dict in, a dict out

Inputs are converted to the model's dtype only if that loses nothing
(`np.asarray(..., dtype)` with casting="same_kind"); shapes must match the
compiled ones exactly.  Runs allocate nothing inside kiln: the outputs and
the 64-byte aligned workspace are numpy arrays owned by the Model, made
once (`run` returns copies, so results survive the next run).  One Model
must not run in two threads at once (one workspace); make two Models.
"""
import ctypes
import os
import shutil
import subprocess
import tempfile

import numpy as np

__all__ = ["compile", "Model", "KilnError"]


class KilnError(RuntimeError):
    """kiln refused the model, or a run returned a status."""


# kiln.h, as ctypes sees it (KILN_ABI_VERSION 1)
class _TensorInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int), ("rank", ctypes.c_int),
                ("shape", ctypes.POINTER(ctypes.c_int64))]


class _RunOptions(ctypes.Structure):
    _fields_ = [("num_threads", ctypes.c_int), ("weights", ctypes.c_void_p)]


_RUN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_void_p),
                        ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p,
                        ctypes.POINTER(_RunOptions))


class _Model(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("num_inputs", ctypes.c_int),
                ("num_outputs", ctypes.c_int), ("inputs", ctypes.POINTER(_TensorInfo)),
                ("outputs", ctypes.POINTER(_TensorInfo)), ("workspace_size", ctypes.c_size_t),
                ("run", _RUN), ("weights_size", ctypes.c_uint64), ("weights_hash", ctypes.c_uint64)]


# ONNX TensorProto.DataType numbers -> numpy (f16 as float16, bf16 as its bits)
_DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32,
           7: np.int64, 9: np.bool_, 10: np.float16, 11: np.float64, 12: np.uint32,
           13: np.uint64, 16: np.uint16}


def _infos(ptr, count):
    out = []
    for i in range(count):
        t = ptr[i]
        if t.dtype not in _DTYPES:
            raise KilnError(f"tensor '{t.name.decode()}' has dtype {t.dtype}, which kiln.py cannot map")
        out.append((t.name.decode(), np.dtype(_DTYPES[t.dtype]), tuple(t.shape[d] for d in range(t.rank))))
    return out


class Model:
    """A compiled model loaded from its shared object (see compile())."""

    def __init__(self, so_path, name, threads=0):
        self._lib = ctypes.CDLL(so_path)
        self._m = _Model.in_dll(self._lib, name + "_model")
        self._status = self._lib.kiln_status_string
        self._status.restype = ctypes.c_char_p
        self._status.argtypes = [ctypes.c_int]
        if self._m.weights_size:
            raise KilnError("kiln.py runs models with embedded weights only")
        self.name = name
        #: [(name, numpy dtype, shape)] of the inputs and outputs, in order
        self.inputs = _infos(self._m.inputs, self._m.num_inputs)
        self.outputs = _infos(self._m.outputs, self._m.num_outputs)
        self.workspace_size = int(self._m.workspace_size)
        self.threads = threads
        raw = np.empty(self.workspace_size + 64, np.uint8)
        skip = (-raw.ctypes.data) % 64
        self._ws = raw[skip:skip + self.workspace_size]
        self._ws_raw = raw
        self._outs = [np.empty(shape, dtype) for _, dtype, shape in self.outputs]
        n_in, n_out = max(1, len(self.inputs)), max(1, len(self.outputs))
        self._in_ptrs = (ctypes.c_void_p * n_in)()
        self._out_ptrs = (ctypes.c_void_p * n_out)()
        for k, o in enumerate(self._outs):
            self._out_ptrs[k] = o.ctypes.data

    def _arrays(self, args, kwargs):
        if len(args) == 1 and isinstance(args[0], dict) and not kwargs:
            kwargs, args = args[0], ()
        names = [n for n, _, _ in self.inputs]
        unknown = [k for k in kwargs if k not in names]
        if unknown:
            raise KilnError(f"no input named {unknown[0]!r}; the inputs are {names}")
        given = dict(zip(names, args))
        given.update(kwargs)
        if len(args) > len(names) or len(given) != len(names):
            raise KilnError(f"the model takes {len(names)} inputs ({names}), got {len(given)}")
        arrays = []
        for name, dtype, shape in self.inputs:
            a = np.asarray(given[name])
            if a.dtype != dtype:
                if not np.can_cast(a.dtype, dtype, casting="same_kind"):
                    raise KilnError(f"input {name!r} is {a.dtype}; the model takes {dtype}")
                a = a.astype(dtype)
            if a.shape != shape:
                raise KilnError(f"input {name!r} has shape {a.shape}; the model takes {shape}")
            arrays.append(np.ascontiguousarray(a))
        return arrays

    def run(self, *args, **kwargs):
        """Runs on the inputs (in order, or by name as keywords or one dict);
        returns the outputs as a list, or a dict by name when given a dict
        or keywords."""
        arrays = self._arrays(args, kwargs)
        for k, a in enumerate(arrays):
            self._in_ptrs[k] = a.ctypes.data
        opt = _RunOptions(num_threads=self.threads, weights=None)
        st = self._m.run(self._in_ptrs, self._out_ptrs,
                         self._ws.ctypes.data if self.workspace_size else None, ctypes.byref(opt))
        if st:
            raise KilnError(f"run failed: {self._status(st).decode()} (status {st})")
        outs = [o.copy() for o in self._outs]
        if kwargs or (len(args) == 1 and isinstance(args[0], dict)):
            return {n: o for (n, _, _), o in zip(self.outputs, outs)}
        return outs


def compile(model, shapes=None, binds=None, threads=0, opt_level=2, name="model", kiln=None,
            workdir=None, cc=None):
    """Compiles `model` (a path to .onnx) with `kiln compile` and loads it.

    shapes: {input: [dims]} (--shape), binds: {input: value or list or path}
    (--bind), threads: the runs' thread count (0: KILN_NUM_THREADS or all
    cores), opt_level: 0..3 (-O), kiln: the binary (default $KILN or `kiln`
    on PATH), workdir: where the library goes (default a fresh temporary
    folder), cc: the C compiler linking the shared object ($CC or cc)."""
    kiln = kiln or os.environ.get("KILN") or shutil.which("kiln")
    if not kiln:
        raise KilnError("no kiln binary: pass kiln=PATH or set $KILN")
    cc = cc or os.environ.get("CC") or "cc"
    out = workdir or tempfile.mkdtemp(prefix="kiln-py-")
    cmd = [kiln, "compile", str(model), "-o", out, "--name", name, f"-O{opt_level}"]
    for k, dims in (shapes or {}).items():
        cmd += ["--shape", f"{k}=" + ",".join(str(int(d)) for d in dims)]
    for k, v in (binds or {}).items():
        if isinstance(v, (list, tuple, np.ndarray)):
            v = ",".join(repr(x) for x in np.asarray(v).ravel().tolist())
        cmd += ["--bind", f"{k}={v}"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        raise KilnError(p.stderr.strip() or f"kiln compile exited {p.returncode}")
    so = os.path.join(out, f"lib{name}.so")
    p = subprocess.run([cc, "-shared", "-o", so, "-Wl,--whole-archive",
                        os.path.join(out, f"lib{name}.a"), "-Wl,--no-whole-archive",
                        "-lpthread", "-lm"], capture_output=True, text=True)
    if p.returncode:
        raise KilnError("linking the shared object failed: " + p.stderr.strip())
    return Model(so, name, threads)
