"""targets.load: user target files, good and broken (each written to tmp_path).

Every broken file must raise targets.TargetError (a ValueError) with a ONE-line message
that names the file's path.
"""

from __future__ import annotations

import math
import os
import sys

import numba
import numpy as np
import pytest

from mdhmc import targets
from mdhmc.targets import TargetError

GAUSS = """
def log_density(x):
    return -0.5 * (x[0] * x[0] + x[1] * x[1])
"""


def _fd(f, x, h=1e-6):
    g = np.empty(x.size)
    for i in range(x.size):
        e = np.zeros(x.size)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


# ------------------------------------------------------------------------------------
# Good files
# ------------------------------------------------------------------------------------
def test_load_plain_python_log_density(write_target):
    path = write_target(
        '''
        """A correlated Gaussian written with numpy and math."""
        import math
        import numpy as np

        dim = 2
        P = np.array([[2.0, -0.5], [-0.5, 1.0]])

        def log_density(x):
            q = x @ (P @ x)
            return -0.5 * q + math.log(2.0)
        ''',
        name="corr_gauss.py",
    )
    t = targets.load(path)
    assert t.name == "corr_gauss" and t.dim == 2
    assert t.source == str(path)
    assert t.description == "A correlated Gaussian written with numpy and math."
    assert isinstance(t.log_density, numba.core.registry.CPUDispatcher)  # compiled for the kernels
    assert not t.has_gradient and not t.has_exact and not t.is_mixture and t.bounds is None
    X = np.random.default_rng(0).standard_normal((5, 2))
    P = np.array([[2.0, -0.5], [-0.5, 1.0]])
    ref = -0.5 * np.einsum("ni,ij,nj->n", X, P, X) + math.log(2.0)
    np.testing.assert_allclose(t.log_density_batch(X), ref, rtol=1e-12)
    assert t.box().shape == (2, 2)


def test_load_accepts_str_path_and_numpy_int_dim(write_target):
    path = write_target("import numpy as np\ndim = np.int64(3)\ndef log_density(x):\n    return -0.5 * np.sum(x * x)\n")
    t = targets.load(str(path))
    assert t.dim == 3 and type(t.dim) is int
    assert t.log_density(np.ones(3)) == pytest.approx(-1.5)


def test_load_njit_log_density(write_target):
    path = write_target(
        """
        import numba

        dim = 2
        name = "jitted"

        @numba.njit
        def log_density(x):
            return -0.5 * (x[0] * x[0] + 4.0 * x[1] * x[1])
        """
    )
    t = targets.load(path)
    assert t.name == "jitted"
    assert t.log_density(np.array([1.0, 1.0])) == pytest.approx(-2.5)
    np.testing.assert_allclose(t.log_density_batch(np.eye(2)), [-0.5, -2.0])


@pytest.mark.parametrize("sig", ["float64(float64[::1])", "float64(float64[:])"])
def test_load_njit_with_explicit_signature(write_target, sig):
    """A dispatcher with explicit signatures cannot compile new ones; it must still load
    when one of its signatures takes a float64 array."""
    path = write_target(f'import numba\ndim = 2\n@numba.njit("{sig}")\ndef log_density(x):\n    return -x[0] * x[0]\n')
    t = targets.load(path)
    assert t.log_density_batch(np.array([[2.0, 0.0]]))[0] == -4.0


def test_load_full_featured_file(write_target):
    """grad, sample_exact, bounds, component_weights and component_of all wired through."""
    path = write_target(
        '''
        """Two 2D Gaussian bumps, 25% / 75%."""
        import math
        import numba
        import numpy as np

        dim = 2
        name = "two-bumps"
        bounds = ((-7.0, 7.0), (-4.0, 4.0))
        component_weights = (0.25, 0.75)
        M = np.array([[-3.0, 0.0], [3.0, 0.0]])
        LW = np.log(np.array([0.25, 0.75]))

        @numba.njit
        def _terms(x):
            t = np.empty(2)
            for k in range(2):
                d0 = x[0] - M[k, 0]
                d1 = x[1] - M[k, 1]
                t[k] = LW[k] - 0.5 * (d0 * d0 + d1 * d1)
            return t

        def log_density(x):
            t = _terms(x)
            m = max(t[0], t[1])
            return m + math.log(math.exp(t[0] - m) + math.exp(t[1] - m))

        def grad_log_density(x):
            t = _terms(x)
            r = np.exp(t - t.max())
            r /= r.sum()
            g = np.zeros(2)
            for k in range(2):
                g -= r[k] * (x - M[k])
            return g

        def sample_exact(n, rng):
            k = (rng.random(n) < 0.75).astype(np.int64)
            return M[k] + rng.standard_normal((n, 2))

        def component_of(X):
            return (np.asarray(X)[:, 0] > 0).astype(np.int64)
        '''
    )
    t = targets.load(path)
    assert t.name == "two-bumps" and t.has_gradient and t.has_exact and t.is_mixture
    assert t.bounds == ((-7.0, 7.0), (-4.0, 4.0))
    np.testing.assert_array_equal(t.component_weights, [0.25, 0.75])
    assert t.component_weights.dtype == np.float64
    rng = np.random.default_rng(1)
    X = t.sample_exact(4000, rng)
    assert X.shape == (4000, 2)
    frac = np.mean(t.component_of(X) == 1)
    assert abs(frac - 0.75) < 4 * math.sqrt(0.75 * 0.25 / 4000)
    for x in X[:10]:
        x = np.ascontiguousarray(x)
        np.testing.assert_allclose(t.grad_log_density(x), _fd(t.log_density, x), rtol=1e-5, atol=1e-7)


def test_loading_twice_gives_independent_targets(write_target):
    path = write_target("dim = 1\ndef log_density(x):\n    return -x[0] * x[0]\n")
    a, b = targets.load(path), targets.load(path)
    assert a is not b and a.log_density(np.ones(1)) == b.log_density(np.ones(1)) == -1.0


# ------------------------------------------------------------------------------------
# Broken files: (id, source, substrings the message must contain)
# ------------------------------------------------------------------------------------
BROKEN = [
    ("missing-log_density", "dim = 2\n", ["missing module-level name log_density"]),
    ("missing-dim", GAUSS, ["missing module-level name dim"]),
    ("missing-both", "x = 1\n", ["missing module-level names log_density, dim"]),
    ("dim-0", "dim = 0\n" + GAUSS, ["dim must be an integer >= 1", "0"]),
    ("dim-negative", "dim = -2\n" + GAUSS, ["dim must be an integer >= 1"]),
    ("dim-str", 'dim = "2"\n' + GAUSS, ["dim must be an integer >= 1", "'2'"]),
    ("dim-float", "dim = 2.0\n" + GAUSS, ["dim must be an integer >= 1"]),
    ("dim-bool", "dim = True\n" + GAUSS, ["dim must be an integer >= 1"]),
    ("name-empty", 'name = ""\ndim = 2\n' + GAUSS, ["name must be a non-empty string"]),
    ("syntax-error", "dim = 2\ndef log_density(x)\n    return 0.0\n", ["could not be imported (line 2)", "SyntaxError"]),
    ("import-raises", 'raise RuntimeError("boom\\nsecond line")\n', ["could not be imported", "RuntimeError", "boom"]),
    ("import-missing-module", "import no_such_module_mdhmc\ndim = 2\n" + GAUSS, ["could not be imported", "ModuleNotFoundError"]),
    ("log_density-not-callable", "dim = 2\nlog_density = 3.0\n", ["log_density is not a function"]),
    ("returns-nan", "import math\ndim = 2\ndef log_density(x):\n    return math.nan\n", ["returned nan"]),
    ("returns-nan-at-exact-draw", "import numpy as np\ndim = 1\nbounds = ((1.0, 3.0),)\n"
     "def log_density(x):\n    return np.log(x[0])\n"
     "def sample_exact(n, rng):\n    return -rng.random((n, 1))\n", ["log_density returned nan at [-"]),
    ("returns-inf", "import math\ndim = 2\ndef log_density(x):\n    return math.inf\n", ["log_density returned inf"]),
    ("returns-minus-inf-at-centre", "import numpy as np\ndim = 1\ndef log_density(x):\n    return np.log(x[0] * x[0])\n",
     ["log_density returned -inf at [0]"]),
    ("returns-tuple", "dim = 2\ndef log_density(x):\n    return (x[0], x[1])\n", ["log_density must return a float", "tuple"]),
    ("returns-array", "dim = 2\ndef log_density(x):\n    return -0.5 * x * x\n", ["log_density must return a float", "ndarray"]),
    ("returns-bool", "dim = 2\ndef log_density(x):\n    return x[0] > 0.0\n", ["log_density must return a float"]),
    ("not-numba-str-format", 'dim = 2\ndef log_density(x):\n    return float("{:.3f}".format(x[0]))\n', ["numba"]),
    ("not-numba-dict", "dim = 2\ndef log_density(x):\n    d = {}\n    d[str(x[0])] = x[0]\n    return sum(d.values())\n", ["numba"]),
    ("not-numba-python-helper", "dim = 2\ndef helper(x):\n    return 1.0\ndef log_density(x):\n    return helper(x)\n", ["numba"]),
    ("not-numba-fraction", "from fractions import Fraction\ndim = 2\ndef log_density(x):\n    return float(Fraction(1, 3)) - x[0]\n", ["numba"]),
    ("wrong-arity", "dim = 2\ndef log_density(x, y):\n    return 0.0\n", ["log_density could not be compiled by numba"]),
    ("njit-uncompilable-signature", 'import numba\ndim = 2\n@numba.njit("float64(int64[:])")\ndef log_density(x):\n    return x.foo\n', ["could not be imported", "TypingError"]),
    ("log_density-raises", "dim = 2\ndef log_density(x):\n    raise ValueError('no good')\n", ["log_density raised ValueError"]),
    ("sample_exact-wrong-shape", "import numpy as np\ndim = 2\n" + GAUSS + "def sample_exact(n, rng):\n    return rng.standard_normal((n, 3))\n",
     ["sample_exact(5, rng) returned shape (5, 3), expected (5, 2)"]),
    ("sample_exact-1d", "dim = 2\n" + GAUSS + "def sample_exact(n, rng):\n    return rng.standard_normal(n)\n", ["sample_exact(5, rng) returned shape (5,)"]),
    ("sample_exact-raises", "dim = 2\n" + GAUSS + "def sample_exact(n, rng):\n    raise ValueError('bad\\nthing')\n", ["sample_exact(5, rng) raised ValueError"]),
    ("sample_exact-nan", "import numpy as np\ndim = 2\n" + GAUSS + "def sample_exact(n, rng):\n    return np.full((n, 2), np.nan)\n", ["sample_exact returned non-finite"]),
    ("grad-wrong-length", "import numpy as np\ndim = 2\n" + GAUSS + "def grad_log_density(x):\n    return -np.concatenate((x, x))\n",
     ["grad_log_density returned shape (4,), expected (2,)"]),
    ("grad-not-numba", "dim = 2\n" + GAUSS + "def helper(x):\n    return x\ndef grad_log_density(x):\n    return helper(x)\n", ["grad_log_density could not be compiled by numba"]),
    ("grad-nan", "import numpy as np\ndim = 2\n" + GAUSS + "def grad_log_density(x):\n    return np.full(2, np.nan)\n", ["grad_log_density returned non-finite"]),
    ("bounds-reversed", "dim = 2\nbounds = ((1.0, -1.0), (-1.0, 1.0))\n" + GAUSS, ["bounds must be 2 finite (lo, hi) pairs"]),
    ("bounds-wrong-count", "dim = 2\nbounds = ((-1.0, 1.0),)\n" + GAUSS, ["bounds must be 2 finite (lo, hi) pairs"]),
    ("bounds-infinite", "dim = 2\nbounds = ((-1.0, float('inf')), (-1.0, 1.0))\n" + GAUSS, ["bounds must be 2 finite (lo, hi) pairs"]),
    ("bounds-not-numbers", "dim = 2\nbounds = (('a', 'b'), (-1.0, 1.0))\n" + GAUSS, ["bounds must be ((lo, hi), ...) numbers"]),
    ("bounds-ragged", "dim = 2\nbounds = ((-1.0, 1.0), (-1.0,))\n" + GAUSS, ["bounds must be"]),
    ("bounds-numpy-multiline-repr", "import numpy as np\ndim = 2\nbounds = np.array([[0.0, 1.0]] * 3)\n" + GAUSS, ["bounds must be 2 finite (lo, hi) pairs"]),
    ("weights-not-summing-to-1", "import numpy as np\ndim = 2\ncomponent_weights = (0.5, 0.4)\n" + GAUSS
     + "def component_of(X):\n    return np.zeros(len(X), dtype=np.int64)\n", ["component_weights must be non-negative and sum to 1"]),
    ("weights-negative", "import numpy as np\ndim = 2\ncomponent_weights = (1.5, -0.5)\n" + GAUSS
     + "def component_of(X):\n    return np.zeros(len(X), dtype=np.int64)\n", ["component_weights must be non-negative and sum to 1"]),
    ("weights-without-component_of", "dim = 2\ncomponent_weights = (0.5, 0.5)\n" + GAUSS, ["component_weights given without component_of"]),
    ("component_of-floats", "import numpy as np\ndim = 2\ncomponent_weights = (0.5, 0.5)\n" + GAUSS
     + "def component_of(X):\n    return np.zeros(len(X))\n", ["component_of must return"]),
    ("component_of-out-of-range", "import numpy as np\ndim = 2\ncomponent_weights = (0.5, 0.5)\n" + GAUSS
     + "def component_of(X):\n    return np.full(len(X), 2, dtype=np.int64)\n", ["component_of returned labels outside 0..1"]),
    ("component_of-raises", "dim = 2\ncomponent_weights = (0.5, 0.5)\n" + GAUSS
     + "def component_of(X):\n    raise KeyError('x')\n", ["component_of raised KeyError"]),
]


@pytest.mark.parametrize("source, must_contain", [pytest.param(s, m, id=i) for i, s, m in BROKEN])
def test_broken_file_raises_one_line_target_error(write_target, source, must_contain):
    path = write_target(source, name="broken_target.py")
    with pytest.raises(TargetError) as exc:
        targets.load(path)
    msg = str(exc.value)
    assert isinstance(exc.value, ValueError)
    assert "\n" not in msg and "\r" not in msg, f"message is not one line: {msg!r}"
    assert str(path) in msg, f"message does not name the file: {msg!r}"
    for s in must_contain:
        assert s in msg, f"{s!r} not in {msg!r}"


def test_not_numba_message_mentions_compilation(write_target):
    path = write_target('dim = 2\ndef log_density(x):\n    return float("{:.3f}".format(x[0]))\n')
    with pytest.raises(TargetError, match=r"log_density could not be compiled by numba .*; use numpy/math"):
        targets.load(path)


def test_non_py_path(tmp_path):
    path = tmp_path / "target.txt"
    path.write_text("dim = 2\n" + GAUSS)
    with pytest.raises(TargetError) as exc:
        targets.load(path)
    msg = str(exc.value)
    assert str(path) in msg and ".py" in msg and "\n" not in msg


@pytest.mark.parametrize("what", ["missing", "directory"])
def test_non_existent_path(tmp_path, what):
    path = tmp_path / "nope.py"
    if what == "directory":
        path.mkdir()
    with pytest.raises(TargetError) as exc:
        targets.load(path)
    msg = str(exc.value)
    assert str(path) in msg and "no such target file" in msg and "\n" not in msg


def test_failed_import_leaves_no_module_behind(write_target):
    before = set(sys.modules)
    path = write_target('raise RuntimeError("boom")\n')
    with pytest.raises(TargetError):
        targets.load(path)
    assert not {m for m in set(sys.modules) - before if m.startswith("mdhmc_user_target_")}


def test_resolve_routes_paths_to_load(write_target):
    path = write_target("dim = 2\n", name="r.py")
    with pytest.raises(TargetError, match="missing module-level name log_density"):
        targets.resolve(str(path))
    with pytest.raises(TargetError, match="no such target file"):
        targets.resolve(os.path.join("some", "dir", "x.py"))


# ------------------------------------------------------------------------------------
# Numerical faults are numbers; exits at import are load errors (issue 15)
# ------------------------------------------------------------------------------------
NATURAL_FUNNEL = '''
import math
import numba

dim = 2

@numba.njit
def log_density(x):
    s = math.exp(x[1] / 2.0)
    return -0.5 * x[1] ** 2 / 9.0 - 0.5 * (x[0] / s) ** 2 - math.log(s)
'''


@pytest.mark.parametrize("jitted", [True, False])
def test_division_by_zero_in_a_user_density_is_nan_not_an_exception(write_target, jitted):
    """A funnel written the natural way divides by exp(v/2), which underflows to 0 far down the
    neck: with numpy's error model that is a NaN (a rejection), not a ZeroDivisionError."""
    src = NATURAL_FUNNEL if jitted else NATURAL_FUNNEL.replace("@numba.njit\n", "")
    t = targets.load(write_target(src))
    v = t.log_density(np.array([1.0, -3000.0]))
    assert not np.isfinite(v)
    assert np.isfinite(t.log_density(np.array([1.0, 0.0])))


def test_negative_control_numbas_default_error_model_raises():
    """The check above can fail: numba's default error model raises on the same point."""
    import math

    @numba.njit
    def lp(x):
        s = math.exp(x[1] / 2.0)
        return -0.5 * (x[0] / s) ** 2 - math.log(s)

    with pytest.raises(ZeroDivisionError):
        lp(np.array([1.0, -3000.0]))


@pytest.mark.parametrize("exit_call", ["sys.exit(3)", "sys.exit()", "raise KeyboardInterrupt"])
def test_exit_at_import_is_a_one_line_load_error(write_target, exit_call):
    path = write_target(f"import sys\n{exit_call}\n" + GAUSS + "dim = 2\n")
    with pytest.raises(TargetError) as ei:
        targets.load(path)
    msg = str(ei.value)
    assert "\n" not in msg and str(path) in msg and "could not be imported" in msg
