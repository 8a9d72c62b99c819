"""`backprop.ops.blas.gemm`: C ← α·A·B + β·C in place, against NumPy's own product."""

import numpy as np
import pytest

from backprop.ops import blas

needs_blas = pytest.mark.skipif(not blas.GEMM, reason="NumPy's BLAS is not scipy-openblas")


def _view(rng, shape, dtype, layout):
    """A (rows, cols) array: row-major, column-major, or the transpose of either."""
    if layout == "C":
        return np.ascontiguousarray(rng.normal(size=shape).astype(dtype))
    if layout == "F":
        return np.asfortranarray(rng.normal(size=shape).astype(dtype))
    return np.ascontiguousarray(rng.normal(size=shape[::-1]).astype(dtype)).T   # "T"


@needs_blas
@pytest.mark.parametrize("dtype, rtol", [(np.float32, 2e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("m, k, n", [(7, 5, 3), (1, 6, 4), (5, 1, 1), (4, 3, 1), (1, 1, 1)])
@pytest.mark.parametrize("layouts", ["CCC", "FFF", "TCF", "CTC", "TTF", "FCT"])
@pytest.mark.parametrize("alpha, beta", [(1.0, 1.0), (-0.5, 0.75), (2.0, 0.0)])
def test_gemm_matches_numpy(rng, dtype, rtol, m, k, n, layouts, alpha, beta):
    A, B = _view(rng, (m, k), dtype, layouts[0]), _view(rng, (k, n), dtype, layouts[1])
    C = _view(rng, (m, n), dtype, layouts[2])
    expected = beta * C.astype(np.float64) + alpha * (A.astype(np.float64) @ B.astype(np.float64))
    A0, B0 = A.copy(), B.copy()
    assert blas.gemm(C, A, B, alpha, beta) is True      # every layout here is one BLAS reads
    assert C.dtype == dtype
    np.testing.assert_allclose(C, expected, rtol=rtol, atol=rtol)
    np.testing.assert_array_equal(A, A0)
    np.testing.assert_array_equal(B, B0)


@needs_blas
def test_gemm_writes_through_a_view(rng):
    """Wᵀ of a column-major W, as NumpyOps passes it: W itself is updated."""
    W = np.asfortranarray(rng.normal(size=(4, 6)).astype(np.float32))
    Q, dZ = rng.normal(size=(5, 6)).astype(np.float32), rng.normal(size=(5, 4)).astype(np.float32)
    expected = W + (Q.T @ dZ).T
    assert blas.gemm(W.T, Q.T, dZ, 1.0, 1.0)
    np.testing.assert_allclose(W, expected, rtol=1e-5)


def test_gemm_rejects_mismatched_shapes():
    A, B, C = np.ones((3, 4)), np.ones((5, 2)), np.ones((3, 2))
    with pytest.raises(ValueError, match="shapes"):
        blas.gemm(C, A, B, 1.0, 1.0)
    np.testing.assert_array_equal(C, 1.0)


@pytest.mark.parametrize("case", ["float16", "mixed", "strided"])
def test_gemm_declines_what_blas_cannot_read(case):
    """Other dtypes, mixed dtypes and non-unit strides: False, and C untouched."""
    A, B = np.ones((3, 4)), np.ones((4, 2))
    C = np.full((3, 2), 2.0)
    if case == "float16":
        A, B, C = A.astype(np.float16), B.astype(np.float16), C.astype(np.float16)
    elif case == "mixed":
        A = A.astype(np.float32)
    else:
        A = np.ones((3, 8))[:, ::2]
    assert blas.gemm(C, A, B, 1.0, 0.5) is False
    np.testing.assert_array_equal(C, 2.0)


def test_numpy_scipy_openblas_is_found():
    """NumPy's PyPI wheels link scipy-openblas: then both gemm routines must be bound."""
    config = np.__config__.CONFIG["Build Dependencies"]["blas"]
    if config.get("name") != "scipy-openblas":
        pytest.skip(f"NumPy is linked to {config.get('name')}, not scipy-openblas")
    assert set(blas.GEMM) == {np.dtype(np.float32), np.dtype(np.float64)}
