"""Both notebooks run headless on the CPU, with tiny parameters, without a cell erroring."""

from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

papermill = pytest.importorskip("papermill")


@pytest.fixture(autouse=True)
def kernel_imports_this_checkout(monkeypatch):
    """The kernel is a new process: let it import zoomdream from this checkout even when
    the package is not installed."""
    import os

    root = str(NOTEBOOKS.parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH", "")])))


def run(name, tmp_path, **parameters):
    """Run a notebook with these parameters, as papermill would headless. ``install`` is
    left at its default: the notebooks must see that zoomdream is importable and not
    reach for the network."""
    out = tmp_path / name
    papermill.execute_notebook(str(NOTEBOOKS / name), str(out), parameters=parameters,
                               kernel_name="python3", cwd=str(tmp_path), progress_bar=False)
    return out


def test_notebooks_have_a_parameters_cell_with_the_required_names():
    import nbformat

    for path in NOTEBOOKS.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, path.name
        for name in ("frames", "width", "height"):
            assert name in tagged[0].source, f"{path.name} sets no {name}"


@pytest.mark.slow
def test_colab_notebook_renders_a_sweep(tmp_path):
    out = run("zoomdream_colab.ipynb", tmp_path, preset="classic-zoom", frames=2, width=64, height=64,
              overrides={"dream.octaves": 2, "dream.iterations": 2}, output_folder=str(tmp_path / "out"),
              sweep=["seed=0..1"])
    assert (tmp_path / "out" / "classic-zoom_0.mp4").exists() and (tmp_path / "out" / "classic-zoom_1.mp4").exists()
    assert "one device: every frame is dreamed on it" in out.read_text()  # how the devices are used, said


@pytest.mark.slow
def test_colab_notebook_renders_with_only_the_size_set(tmp_path):
    """Only frames, width and height given: the default preset renders, offline."""
    run("zoomdream_colab.ipynb", tmp_path, frames=1, width=64, height=64)
    assert (tmp_path / "zoomdream-out" / "noise-to-dogs.mp4").exists()


@pytest.mark.slow
def test_colab_notebook_renders_its_yaml_preset(tmp_path):
    run("zoomdream_colab.ipynb", tmp_path, use_custom_yaml=True, frames=2, width=64, height=64,
        overrides={"dream.octaves": 2, "dream.iterations": 2}, output_folder=str(tmp_path / "out"))
    assert (tmp_path / "out" / "custom.mp4").exists()


@pytest.mark.slow
def test_layer_explorer_runs(tmp_path):
    out = run("layer_explorer.ipynb", tmp_path, width=64, height=64, octaves=1, iterations=2,
              layers=["conv2/3x3", "inception_3b/output"], channel_layer="inception_3a/output", channel_count=2,
              classes=["banana"], class_size=64, class_steps=3)
    assert "image/png" in out.read_text()  # the galleries were drawn


def test_readme_links_both_notebooks_with_colab_badges():
    readme = (NOTEBOOKS.parent / "README.md").read_text()
    for path in NOTEBOOKS.glob("*.ipynb"):
        assert f"](notebooks/{path.name})" in readme
        assert "colab.research.google.com/github/" in readme and f"/blob/main/notebooks/{path.name})" in readme
