"""Traced programs kept between runs: a warm start loads them instead of tracing, and a
store that is damaged, foreign or absent never changes what a program computes."""

import os
import pickle
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoomdream.dream import executable_store, program_store


def scaled_sum(x, y, *, scale):
    return {"total": x * scale + y, "count": jnp.sum(x)}


def make(x, y, scale=2.0):
    return program_store.program("test sum", scaled_sum, (x, y), statics={"scale": scale}, donate=(0,),
                                 out_tree=lambda: jax.tree.structure({"total": 0, "count": 0}))


@pytest.fixture()
def store(tmp_path, monkeypatch):
    """An empty store, and this process's programs forgotten, as in a new process."""
    monkeypatch.setenv("ZOOMDREAM_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(program_store, "_entries", {})
    # Programs of this test alone: XLA's cache (one a process, filled by other tests) then
    # never holds their code, which would keep their executables from being kept.
    monkeypatch.setattr(program_store, "_source_digest", lambda: str(tmp_path))
    return tmp_path / "programs"


def expected(x, y, scale=2.0):
    return x * scale + y, np.sum(x)


def assert_expected(out, x, y, scale=2.0):
    for got, want in zip(out, expected(x, y, scale)):
        np.testing.assert_allclose(got, want)


def run(x, y, scale=2.0):
    out = make(jnp.asarray(x), jnp.asarray(y), scale)(jnp.asarray(x), jnp.asarray(y))
    return np.asarray(out["total"]), np.asarray(out["count"])


def forbid_tracing(monkeypatch):
    def traced(*args, **kwargs):
        raise AssertionError("traced although the store holds the program")

    monkeypatch.setattr(jax.export, "export", traced)


def stored(store, suffix: str) -> list:
    return sorted(p for p in store.iterdir() if p.suffix == suffix)


def test_a_program_traced_once_is_loaded_by_the_next_process(store, monkeypatch):
    x, y = np.arange(6, dtype=np.float32).reshape(2, 3), np.float32(1.5)
    first = run(x, y)
    assert len(stored(store, ".jaxexport")) == 1 and len(stored(store, ".executable")) == 1
    assert len(list(store.iterdir())) == 2
    monkeypatch.setattr(program_store, "_entries", {})  # a new process
    forbid_tracing(monkeypatch)
    again = run(x, y)
    np.testing.assert_array_equal(again[0], first[0])
    assert_expected(again, x, y)


def test_a_kept_executable_loads_without_reading_or_lowering_the_program(store, monkeypatch):
    x, y = np.arange(4, dtype=np.float32), np.float32(2)
    run(x, y)
    monkeypatch.setattr(program_store, "_entries", {})
    forbid_tracing(monkeypatch)

    def refused(*args, **kwargs):
        raise AssertionError("the exported program was read although its executable is kept")

    monkeypatch.setattr(jax.export, "deserialize", refused)
    program = make(jnp.asarray(x), jnp.asarray(y))
    assert program.kept and not program.traced
    assert_expected(run(x, y), x, y)
    # its results' shapes are known before it runs, as for a traced program
    assert program.result_shapes()["total"].shape == (4,)


def test_other_statics_shapes_or_types_are_other_programs(store):
    x, y = np.ones((2, 3), np.float32), np.float32(1)
    run(x, y)
    run(x, y, scale=3.0)
    run(np.ones((4, 3), np.float32), y)
    run(x.astype(np.int32), np.int32(1))
    assert len(stored(store, ".jaxexport")) == 4 and len(stored(store, ".executable")) == 4
    np.testing.assert_allclose(run(x, y, scale=3.0)[0], expected(x, y, 3.0)[0])


@pytest.mark.parametrize("damage", [b"", b"not a program at all", b"\x00" * 64])
def test_a_damaged_file_is_traced_again_and_replaced(store, monkeypatch, damage):
    x, y = np.full((3,), 2, np.float32), np.float32(0.5)
    run(x, y)
    (path,) = stored(store, ".jaxexport")
    path.write_bytes(damage)
    stored(store, ".executable")[0].unlink()  # else the kept executable would run without it
    monkeypatch.setattr(program_store, "_entries", {})
    assert_expected(run(x, y), x, y)
    assert path.read_bytes() != damage
    monkeypatch.setattr(program_store, "_entries", {})
    forbid_tracing(monkeypatch)
    assert_expected(run(x, y), x, y)


@pytest.mark.parametrize("damage", [b"", b"not an executable", b"\x80\x04K\x01.", b"\x00" * 64])
def test_a_damaged_executable_is_compiled_again(store, monkeypatch, damage):
    """The program runs, from its stored program, compiled again, or from XLA's cache
    (where that holds it, its executable cannot be kept again: executable_store)."""
    x, y = np.full((3,), 2, np.float32), np.float32(0.5)
    run(x, y)
    (path,) = stored(store, ".executable")
    path.write_bytes(damage)
    forbid_tracing(monkeypatch)  # the stored program is still good: read, not traced
    monkeypatch.setattr(program_store, "_entries", {})  # a new process
    assert not make(x, y).kept
    assert_expected(run(x, y), x, y)
    monkeypatch.setattr(program_store, "_entries", {})  # and another
    assert_expected(run(x, y), x, y)


def test_an_executable_that_does_not_load_is_compiled_again(store, monkeypatch):
    """A file that reads as a kept executable but whose compiled code does not load (from
    another jaxlib, say) costs a compile, not the render."""
    x, y = np.ones((2,), np.float32), np.float32(3)
    run(x, y)
    (path,) = stored(store, ".executable")
    kept = executable_store.read(path.read_bytes())
    form = pickle.loads(path.read_bytes())
    path.write_bytes(pickle.dumps((*form[:4], b"compiled code of another kind", form[5])))
    assert executable_store.read(path.read_bytes()) is not None and kept is not None
    monkeypatch.setattr(program_store, "_entries", {})
    assert make(x, y).kept
    assert_expected(run(x, y), x, y)


@pytest.mark.parametrize("suffix", [".jaxexport", ".executable"])
def test_a_file_for_other_shapes_under_the_right_name_is_not_trusted(store, monkeypatch, suffix):
    """A stored program or executable that takes other arguments than its name says (a
    foreign file copied in) is traced or compiled again instead of run."""
    x, y = np.ones((2, 2), np.float32), np.float32(1)
    run(np.ones((5,), np.float32), y)
    (foreign,) = stored(store, suffix)
    run(x, y)
    (mine,) = set(stored(store, suffix)) - {foreign}
    mine.write_bytes(foreign.read_bytes())
    if suffix == ".jaxexport":
        for kept in stored(store, ".executable"):
            kept.unlink()
    monkeypatch.setattr(program_store, "_entries", {})
    assert_expected(run(x, y), x, y)


def test_an_executable_is_kept_for_this_machine_only(monkeypatch, tmp_path):
    """Another CPU (other instruction sets: code for AVX-512 must not run without it),
    another jaxlib or other XLA flags find no executable under the same program's name."""
    program = tmp_path / "ascent-step-0123.jaxexport"
    here = executable_store.path_beside(program)
    assert here.suffix == ".executable" and here.name.startswith("ascent-step-0123-")
    monkeypatch.setattr(executable_store, "_cpu_features", lambda: "fpu sse sse2")
    executable_store._machine_digest.cache_clear()
    try:
        assert executable_store.path_beside(program) != here
        monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_max_isa=AVX2")
        executable_store._machine_digest.cache_clear()
        assert len({executable_store.path_beside(program), here}) == 2
    finally:
        executable_store._machine_digest.cache_clear()


def test_an_executable_read_from_xlas_cache_is_never_kept(tmp_path):
    """XLA:CPU cannot serialize again an executable it read from JAX's cache: the copy
    loads but fails when run. A program whose executable was removed, and which XLA's
    cache then supplies, is run from that cache and not kept; every run gives the same
    result (without the rule, the third run fails)."""
    code = """
import sys
import jax, numpy as np
from zoomdream.dream import cache, program_store
cache.enable()
x = np.arange(64, dtype=np.float32).reshape(8, 8)
f = program_store.program("conv", lambda a: {"y": jax.numpy.tanh(a @ a.T) @ a + 1}, (x,), statics={},
                          out_tree=lambda: jax.tree.structure({"y": 0}))
print(float(f(x)["y"].sum()))
"""
    env = dict(os.environ, JAX_PLATFORMS="cpu", ZOOMDREAM_CACHE_DIR=str(tmp_path))

    def run_once() -> str:
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env=env).stdout.strip()

    first = run_once()
    (kept,) = (tmp_path / "programs").glob("*.executable")
    kept.unlink()
    assert run_once() == first  # compiled code from XLA's cache
    assert not list((tmp_path / "programs").glob("*.executable"))
    assert run_once() == first


def test_with_the_cache_off_nothing_is_written_and_programs_still_run(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOOMDREAM_CACHE_DIR", "")
    monkeypatch.setattr(program_store, "_entries", {})
    x, y = np.ones((2,), np.float32), np.float32(3)
    assert_expected(run(x, y), x, y)
    assert not list(tmp_path.iterdir())


def test_an_unwritable_store_only_costs_tracing(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("ZOOMDREAM_CACHE_DIR", str(blocker))
    monkeypatch.setattr(program_store, "_entries", {})
    x, y = np.ones((2,), np.float32), np.float32(3)
    assert_expected(run(x, y), x, y)


def test_the_donated_argument_is_reused(store):
    x = jnp.ones((8,), jnp.float32)
    make(x, jnp.float32(0))(x, jnp.float32(0))
    assert x.is_deleted()


def test_arguments_of_another_structure_are_refused(store):
    x = jnp.ones((2,), jnp.float32)
    program = make(x, jnp.float32(0))
    with pytest.raises(TypeError, match="structure"):
        program(x, (jnp.float32(0),))


def test_a_start_imports_no_library_that_only_tracing_or_sound_needs():
    # Flax is needed only to trace the network (a warm start loads its programs instead)
    # and scipy.ndimage only to analyse a soundtrack: together about 0.7 s of every start.
    import subprocess
    import sys

    code = ("import sys, zoomdream, zoomdream.frontends.cli; "
            "print(sorted(m for m in ('flax', 'scipy.ndimage') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_running_a_stored_program_leaves_scipy_linalg_unimported_and_lapack_working(tmp_path):
    """Lowering an exported program's call makes JAX set up LAPACK on the CPU; the two
    modules it needs are loaded alone, not all of scipy.linalg (about 0.2 s of a start)."""
    code = """
import sys
import jax, jax.numpy as jnp, numpy as np
from zoomdream.dream import executable_store, program_store
double = program_store.program("double", lambda x: {"y": x * 2}, (np.ones(3, np.float32),), statics={},
                               out_tree=lambda: jax.tree.structure({"y": 0}))
print(float(double(np.ones(3, np.float32))["y"].sum()), "scipy.linalg" in sys.modules,
      float(jnp.linalg.det(jnp.eye(2) * 3)))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, JAX_PLATFORMS="cpu", ZOOMDREAM_CACHE_DIR=str(tmp_path)))
    assert out.stdout.split() == ["6.0", "False", "9.0"]
