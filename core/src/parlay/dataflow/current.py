"""The current DataFlowKernel: the one an app call goes to when its app names none.

`parlay.load` makes a kernel current, apps read it, and a kernel's `cleanup` clears it. This module sits
at the bottom of the kernel's layers (it imports only parlay's errors), so apps need not import the loader.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from parlay.errors import NoDataFlowKernelError

if TYPE_CHECKING:
    from parlay.dataflow.kernel import DataFlowKernel

_kernel: DataFlowKernel | None = None


def get() -> DataFlowKernel | None:
    """The current DataFlowKernel, or None."""
    return _kernel


def dfk() -> DataFlowKernel:
    """The current DataFlowKernel; raises `NoDataFlowKernelError` if none is loaded."""
    kernel = _kernel
    if kernel is None:
        raise NoDataFlowKernelError("Must first load config: call parlay.load()")
    return kernel


def make_current(kernel: DataFlowKernel) -> None:
    """Make `kernel` the current DataFlowKernel."""
    global _kernel
    _kernel = kernel


def clear(kernel: DataFlowKernel | None = None) -> None:
    """Make no DataFlowKernel current; given `kernel`, only if it is the current one."""
    global _kernel
    if kernel is None or _kernel is kernel:
        _kernel = None
