"""Shared fixtures: the network is loaded once per test session."""

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

# Tests run on the CPU whatever the machine has, so results do not depend on a GPU.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Compiled frame steps go to a cache of the test run, not the user's ~/.cache.
os.environ.setdefault("ZOOMDREAM_CACHE_DIR", tempfile.mkdtemp(prefix="zoomdream-test-xla-"))

DATA = Path(__file__).parent / "data"
SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def net():
    import zoomdream

    return zoomdream.load_googlenet()


@pytest.fixture(scope="session")
def golden():
    with np.load(DATA / "golden_subset.npz") as g:
        return {k: g[k] for k in g.files}


@pytest.fixture(autouse=True)
def run_in_an_empty_folder(tmp_path_factory, monkeypatch):
    """Every test runs in a folder of its own, so that nothing in the folder pytest was
    started from (a render of the README's quick start, say) can change its outcome."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
