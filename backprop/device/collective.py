"""The sum over MPI ranks of a training step's buffer, on the host or on GPUs.

`allreducer` returns the in-place sum that data-parallel training (`backprop.distributed`)
applies to its flat gradient buffer once per step:

* NumPy: MPI's ``Allreduce`` on the buffer itself (``MPI.IN_PLACE``);
* CuPy, one GPU per rank: NCCL (``cupy.cuda.nccl``), queued on the current CUDA stream
  like any kernel, so the step never waits for the GPU;
* CuPy without NCCL (or with several ranks on one GPU, which NCCL refuses), where MPI
  is CUDA-aware (its ``mpi_memory_alloc_kinds`` include ``cuda``): MPI's ``Allreduce``
  on the device buffer, after the stream has finished writing it;
* otherwise the buffer goes through host memory, which is said once (a warning on
  rank 0).

This is the only module that calls MPI or NCCL on device buffers.
"""

from __future__ import annotations

import warnings

import array_api_compat
import numpy as np

from ..errors import BackpropError
from . import gpu_count


def allreducer(comm, backend):
    """A function ``reduce(buffer)`` that replaces ``buffer`` (NumPy or CuPy, 1-D) by its
    sum over the ranks of ``comm``. On GPUs every rank must call this together."""
    from mpi4py import MPI

    if not array_api_compat.is_cupy_namespace(backend.xp):
        return lambda buffer: comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
    import cupy

    places = comm.allgather((MPI.Get_processor_name(), cupy.cuda.Device().pci_bus_id))
    if _nccl_available() and len(set(places)) == len(places):
        return _nccl(comm)
    if _cuda_aware(comm):
        def reduce(buffer):
            cupy.cuda.get_current_stream().synchronize()
            comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
        return reduce
    if comm.Get_rank() == 0:
        why = "several ranks share a GPU" if len(set(places)) < len(places) else \
            "CuPy has no NCCL"
        warnings.warn(f"data-parallel training on GPUs: {why} and MPI is not CUDA-aware, so "
                      f"each step's gradients are summed through host memory (slower)",
                      RuntimeWarning, stacklevel=2)
    return _through_host(comm, MPI)


def cuda_device(local_rank: int) -> str:
    """``"cuda:N"`` for the rank with this local rank on its node: GPU ``local_rank``, or
    GPU 0 when the launcher shows each rank a single GPU (``CUDA_VISIBLE_DEVICES``)."""
    count = gpu_count()
    if count == 1:
        return "cuda:0"
    if local_rank >= count:
        raise BackpropError(f"this rank has local rank {local_rank} on its node but only "
                            f"{count} GPUs are visible: start at most one rank per GPU")
    return f"cuda:{local_rank}"


def _nccl_available() -> bool:
    try:
        from cupy.cuda import nccl
    except ImportError:
        return False
    return bool(getattr(nccl, "available", True))


def _nccl(comm):
    """NCCL's all-reduce on the current stream; the communicator's id goes out over MPI."""
    import cupy
    from cupy.cuda import nccl

    uid = comm.bcast(nccl.get_unique_id() if comm.Get_rank() == 0 else None, root=0)
    communicator = nccl.NcclCommunicator(comm.Get_size(), uid, comm.Get_rank())
    types = {np.dtype(np.float32): nccl.NCCL_FLOAT32, np.dtype(np.float64): nccl.NCCL_FLOAT64}

    def reduce(buffer):
        communicator.allReduce(buffer.data.ptr, buffer.data.ptr, buffer.size,
                               types[buffer.dtype], nccl.NCCL_SUM,
                               cupy.cuda.get_current_stream().ptr)
    return reduce


def _cuda_aware(comm) -> bool:
    """True if the MPI library declares CUDA device memory among its allocation kinds
    (MPI 4.1's ``mpi_memory_alloc_kinds``)."""
    info = comm.Get_info()
    try:
        kinds = info.Get("mpi_memory_alloc_kinds") or ""
    finally:
        info.Free()
    return "cuda:device" in kinds.split(",")


def _through_host(comm, MPI):
    """Copy to a host buffer, sum there, copy back (one host buffer per size, reused)."""
    hosts = {}

    def reduce(buffer):
        key = (buffer.size, buffer.dtype)
        if key not in hosts:
            hosts[key] = np.empty(buffer.size, buffer.dtype)
        host = buffer.get(out=hosts[key])
        comm.Allreduce(MPI.IN_PLACE, host, op=MPI.SUM)
        buffer.set(host)
    return reduce
