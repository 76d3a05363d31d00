"""The CPU backend's runtime: threads and memory.

Threads: one pool at a time. Kernels call BLAS single-threaded from inside numba's ``prange``
(``blas_single``), so numba's and BLAS's threads never spin against each other for the cores.
``set_threads`` sets both pools.

Memory: an SRCNN activation is tens of MB (512x512x64 float32 = 64 MB). glibc serves blocks that
large with a fresh ``mmap`` and returns them on ``free``, so every layer would page-fault its
output in again: on this project's machine that made 9-1-5 at 512x512 take 100 ms instead of 60.
``keep_freed_memory`` asks glibc to serve them from its heap and keep up to 2 GiB of freed memory
for reuse, as TensorFlow's own allocator does. The cpu backend calls it once on first use;
``NPSRCNN_KEEP_MEMORY=0`` opts out.
"""

import ctypes
import os
import sys
from contextlib import contextmanager

import numba
import scipy.linalg.cython_blas  # noqa: F401  (the BLAS numba's np.dot calls: load it before we look)
from threadpoolctl import ThreadpoolController

_controller = None


def _blas():
    global _controller
    if _controller is None:
        _controller = ThreadpoolController().select(user_api="blas")
    return _controller


@contextmanager
def blas_single():
    """BLAS on one thread inside the block (each numba thread then runs its own GEMMs)."""
    with _blas().limit(limits=1):
        yield


def set_threads(n):
    """Use ``n`` threads in numba kernels and in BLAS; returns the number set."""
    n = max(1, min(int(n), numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(n)
    _blas().limit(limits=n)  # stays in force: not used as a context manager
    return n


_kept = False


def keep_freed_memory():
    """glibc ``mallopt``: no mmap for large blocks, trim the heap only above 2 GiB. Once per process."""
    global _kept
    if _kept or os.environ.get("NPSRCNN_KEEP_MEMORY") == "0" or not sys.platform.startswith("linux"):
        return
    _kept = True
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl, ...): nothing to tune
        return
    m_trim_threshold, m_mmap_max = -1, -4
    libc.mallopt(m_mmap_max, 0)
    libc.mallopt(m_trim_threshold, 2 << 30)
