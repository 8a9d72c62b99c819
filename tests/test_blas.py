"""`backprop.device.blas.accumulate`: C ← β·C + A·B in place, against NumPy's own product."""

import numpy as np
import pytest

from backprop.device import blas


def _view(rng, shape, dtype, layout):
    """A (rows, cols) array: row-major, column-major, or the transpose of either."""
    if layout == "C":
        return np.ascontiguousarray(rng.normal(size=shape).astype(dtype))
    if layout == "F":
        return np.asfortranarray(rng.normal(size=shape).astype(dtype))
    return np.ascontiguousarray(rng.normal(size=shape[::-1]).astype(dtype)).T   # "T"


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 2e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("m, k, n", [(7, 5, 3), (1, 6, 4), (5, 1, 1), (4, 3, 1), (1, 1, 1)])
@pytest.mark.parametrize("layouts", ["CCC", "FFF", "TCF", "CTC", "TTF", "FCT"])
@pytest.mark.parametrize("beta", [1.0, 0.75, 0.0])
@pytest.mark.parametrize("with_blas", [True, False])
def test_accumulate_matches_numpy(monkeypatch, rng, dtype, rtol, m, k, n, layouts, beta,
                                  with_blas):
    if not with_blas:
        monkeypatch.setattr(blas, "GEMM", {})
    A, B = _view(rng, (m, k), dtype, layouts[0]), _view(rng, (k, n), dtype, layouts[1])
    C = _view(rng, (m, n), dtype, layouts[2])
    expected = beta * C.astype(np.float64) + A.astype(np.float64) @ B.astype(np.float64)
    A0, B0 = A.copy(), B.copy()
    scratch = np.full((m, n), np.nan, dtype)
    out = blas.accumulate(C, A, B, beta, scratch)
    assert out is C and C.dtype == dtype
    # every layout here is one BLAS reads: with gemm bound, the fallback's scratch is unused
    assert np.isnan(scratch).all() == bool(blas.GEMM)
    np.testing.assert_allclose(C, expected, rtol=rtol, atol=rtol)
    np.testing.assert_array_equal(A, A0)
    np.testing.assert_array_equal(B, B0)


def test_accumulate_writes_through_a_view(rng):
    """Wᵀ of a column-major W, as the fast path passes it: W itself is updated."""
    W = np.asfortranarray(rng.normal(size=(4, 6)).astype(np.float32))
    Q, dZ = rng.normal(size=(5, 6)).astype(np.float32), rng.normal(size=(5, 4)).astype(np.float32)
    expected = W + (Q.T @ dZ).T
    blas.accumulate(W.T, Q.T, dZ, 1.0, np.empty((6, 4), np.float32))
    np.testing.assert_allclose(W, expected, rtol=1e-5)


def test_accumulate_rejects_mismatched_shapes(rng):
    A, B, C = np.ones((3, 4)), np.ones((5, 2)), np.ones((3, 2))
    with pytest.raises(ValueError, match="shapes"):
        blas.accumulate(C, A, B, 1.0, np.empty_like(C))
    np.testing.assert_array_equal(C, 1.0)


def test_other_dtypes_take_the_numpy_fallback(rng):
    A, B = np.ones((3, 4), np.float16), np.ones((4, 2), np.float16)
    C = np.full((3, 2), 2.0, np.float16)
    blas.accumulate(C, A, B, 0.5, np.empty_like(C))
    np.testing.assert_array_equal(C, 5.0)


def test_numpy_scipy_openblas_is_found():
    """NumPy's PyPI wheels link scipy-openblas: then both gemm routines must be bound."""
    config = np.__config__.CONFIG["Build Dependencies"]["blas"]
    if config.get("name") != "scipy-openblas":
        pytest.skip(f"NumPy is linked to {config.get('name')}, not scipy-openblas")
    assert set(blas.GEMM) == {np.dtype(np.float32), np.dtype(np.float64)}
