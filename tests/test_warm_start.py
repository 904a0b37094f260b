"""The command line's warm start: the last render's executables loaded in a thread while
zoomdream starts, each taken by its program; nothing loaded for another render, another
machine or a command that does not render."""

import os
import subprocess
import sys
import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoomdream.dream import executable_store, program_store, warm_start
from zoomdream.frontends import startup


@pytest.fixture()
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOOMDREAM_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(program_store, "_entries", {})
    # Programs of this test alone: XLA's cache (one a process, filled by other tests) then
    # never holds their code, which would keep their executables from being kept.
    monkeypatch.setattr(program_store, "_source_digest", lambda: str(tmp_path))
    monkeypatch.setattr(warm_start, "_called", [])
    monkeypatch.setattr(warm_start, "_remembered", 0)
    monkeypatch.setattr(warm_start, "_ahead", None)
    return tmp_path / "programs"


def scaled(x, *, scale):
    return {"y": x * scale}


def program(n: int, scale: float = 2.0):
    x = jnp.arange(n, dtype=jnp.float32)
    return program_store.program("scaled", scaled, (x,), statics={"scale": scale},
                                 out_tree=lambda: jax.tree.structure({"y": 0})), x


def kept_executables(count: int) -> list:
    """Run ``count`` programs (as a render would), and return their kept executables' paths in
    the order they were called."""
    for n in range(1, count + 1):
        fn, x = program(n)
        fn(x)
    warm_start.after_frame()
    folder = program_store.cache.programs_dir()
    return [folder / name for name in (folder / warm_start.RECORD).read_text().split()]


def count_loads(monkeypatch, gate: threading.Event | None = None) -> list:
    loads = []
    load = executable_store.load

    def counted(kept):
        loads.append(kept)
        if gate is not None:
            gate.wait(10)
        return load(kept)

    monkeypatch.setattr(executable_store, "load", counted)
    return loads


@pytest.mark.parametrize(("args", "renders"), [
    ([], True),
    (["--preset", "classic-zoom", "--size", "64x64"], True),
    (["--preset", "serve"], True),
    (["serve"], False),
    (["--help"], False),
    (["-h"], False),
    (["--list-presets"], False),
    (["--list-l"], False),  # argparse's prefix of --list-layers
    (["--plan=plan.json"], False),
    (["--assemble", "out.mp4"], False),
    (["--distributed"], False),  # the runtime must join before JAX's backend starts
    (["--dist", "auto"], False),
])
def test_only_a_render_loads_ahead(args, renders, monkeypatch):
    monkeypatch.delenv("TPU_WORKER_HOSTNAMES", raising=False)
    monkeypatch.delenv("TPU_PROCESS_ADDRESSES", raising=False)
    assert startup.renders(args) is renders


def test_a_tpu_pod_slice_host_does_not_load_ahead(monkeypatch):
    monkeypatch.setenv("TPU_WORKER_HOSTNAMES", "host-a,host-b")
    assert not startup.renders(["--preset", "classic-zoom"])


def test_only_the_command_line_is_taken_for_one(monkeypatch):
    monkeypatch.setattr(sys, "orig_argv", ["python", "-m", "zoomdream", "--frames", "3"])
    assert startup.command_line_args() == ["--frames", "3"]
    monkeypatch.setattr(sys, "orig_argv", ["python", "-m", "pytest", "-x"])
    monkeypatch.setattr(sys, "argv", ["/usr/lib/python3/site-packages/pytest/__main__.py", "-x"])
    assert startup.command_line_args() is None
    monkeypatch.setattr(sys, "orig_argv", ["python", "/venv/bin/zoomdream", "--quiet"])
    monkeypatch.setattr(sys, "argv", ["/venv/bin/zoomdream", "--quiet"])
    assert startup.command_line_args() == ["--quiet"]


def test_the_record_lists_the_called_executables_in_order_once(store):
    paths = kept_executables(3)
    assert [p.name.split("-")[0] for p in paths] == ["scaled"] * 3 and len(set(paths)) == 3
    assert all(p.is_file() and p.suffix == ".executable" for p in paths)
    record = store / warm_start.RECORD
    record.write_text("changed by hand\n")
    warm_start.after_frame()  # nothing new called: not written again
    assert record.read_text() == "changed by hand\n"


def test_programs_take_their_executables_loaded_ahead_and_compute_the_same(store, monkeypatch):
    paths = kept_executables(3)
    monkeypatch.setattr(program_store, "_entries", {})  # a new process
    loads = count_loads(monkeypatch)
    warm_start._ahead = ahead = warm_start._LoadingAhead(paths)
    ahead._thread.join()  # all loaded before the render asks (a slow import, say)
    assert len(loads) == 3
    for n in range(1, 4):
        fn, x = program(n)
        assert fn.kept
        np.testing.assert_array_equal(fn(x)["y"], np.arange(n) * 2.0)
    assert len(loads) == 3  # none loaded twice


def test_another_render_stops_the_loading(store, monkeypatch):
    """A program that the last render did not call: this render is another one, and the
    executables after the one being loaded are never loaded."""
    paths = kept_executables(3)
    other, x = program(7, scale=5.0)
    other(x)  # kept, but not in the record
    monkeypatch.setattr(program_store, "_entries", {})
    gate = threading.Event()
    loads = count_loads(monkeypatch, gate)
    warm_start._ahead = ahead = warm_start._LoadingAhead(paths)
    other, x = program(7, scale=5.0)
    np.testing.assert_array_equal(other(x)["y"], np.arange(7) * 5.0)  # loaded by its program
    gate.set()
    ahead._thread.join()
    assert len(loads) == 2  # the first, begun before, and the other render's own


def test_executables_of_another_machine_in_the_record_are_passed_over(store, monkeypatch):
    """Code compiled for another CPU (a cache folder shared between machines) must not
    even be loaded."""
    paths = kept_executables(2)
    foreign = [p.name.replace(executable_store.machine_suffix(), "-0123456789abcdef.executable") for p in paths]
    for mine, theirs in zip(paths, foreign):
        (store / theirs).write_bytes(mine.read_bytes())
    (store / warm_start.RECORD).write_text("\n".join(foreign))
    warm_start.begin()
    assert warm_start._ahead is None


def test_loading_ahead_imports_nothing_beyond_jax(tmp_path):
    """A thread loads while the main thread still imports; had it to import a module too
    (optax's states, in a program's result), the two could deadlock. So what it reads
    names only what ``import jax`` imported."""
    code = """
import sys
import jax, jax.numpy as jnp, numpy as np
from zoomdream.dream import program_store, warm_start, executable_store
import optax
x = np.ones(3, np.float32)
state = program_store.program("adam state", lambda p: optax.adam(0.1).init(p), (x,), statics={},
                              out_tree=lambda: jax.tree.structure(optax.adam(0.1).init(x)))
state(x)
print(state._entry.executable_path)
"""
    env = dict(os.environ, JAX_PLATFORMS="cpu", ZOOMDREAM_CACHE_DIR=str(tmp_path))
    path = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env=env).stdout.split()[-1]
    # (executable_store itself imports only JAX: loaded from its file, without zoomdream's
    # package, which imports optax.)
    load = f"""
import importlib.util, sys
import jax
from jax.experimental import serialize_executable
spec = importlib.util.spec_from_file_location("executable_store", {executable_store.__file__!r})
executable_store = importlib.util.module_from_spec(spec)
sys.modules["executable_store"] = executable_store
spec.loader.exec_module(executable_store)
before = set(sys.modules)
loaded = executable_store.load_file(open({path!r}, "rb").read())
print(loaded is not None, sorted(set(sys.modules) - before))
"""
    out = subprocess.run([sys.executable, "-c", load], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == ["True", "[]"]


@pytest.mark.parametrize("record", [
    b"../../etc/passwd.executable\nsub/x.executable\nnotes.txt\n",  # names outside the store, or not executables
    b"\xff\xfe not text",
])
def test_a_record_that_is_damaged_or_names_other_files_loads_nothing(store, monkeypatch, record):
    kept_executables(1)
    (store / warm_start.RECORD).write_bytes(record)
    warm_start.begin()
    assert warm_start._ahead is None


def test_a_good_record_loads_ahead(store, monkeypatch):
    paths = kept_executables(2)
    loads = count_loads(monkeypatch)
    warm_start.begin()
    warm_start._ahead._thread.join()
    assert len(loads) == 2 and warm_start.take(paths[0]) is not None


@pytest.mark.parametrize("after", [0.2, 0.6])
def test_ctrl_c_while_the_command_line_starts_is_one_line(tmp_path, after):
    """Ctrl-C while JAX and zoomdream import (tracebacks, or an abort inside JAX's C++
    callbacks, before) waits for the imports and ends the start in one line."""
    import signal
    import time

    env = dict(os.environ, JAX_PLATFORMS="cpu", ZOOMDREAM_CACHE_DIR=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "zoomdream", "--preset", "classic-zoom", "--frames", "1", "--size",
                             "64x64", "-o", str(tmp_path / "out.mp4")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(after)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    lines = [line for line in (out + err).splitlines() if line.strip()]
    assert proc.returncode == startup.EXIT_INTERRUPTED, err
    assert len(lines) == 1 and lines[0].startswith("zoomdream: interrupted"), err
    assert not (tmp_path / "out.mp4").exists()
