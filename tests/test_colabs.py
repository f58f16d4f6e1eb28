"""The Colab notebooks in colabs/ run top to bottom, and are stored without outputs.

Each notebook is read with nbformat, gets a cell injected after its `parameters` cell (as papermill
does) that shrinks the run (a few steps on a small demo dataset), and is executed with nbclient in a
fresh python3 kernel whose working directory is a temporary one. quickstart.ipynb trains the
workdir that video_features.ipynb then loads, as a user would run them. The kernel sees one CPU
device, as a Colab CPU runtime does (the test session's 8 simulated devices are for sharding tests),
and shares the session's persistent compilation cache.

Checked beyond "no cell raised": the files the demo writes (results table), the pictures each
notebook draws, and the clip counts and retrieval lines of video_features for its demo video.
"""

import json
import os
import re

import nbformat
import pytest
from nbclient import NotebookClient

COLABS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "colabs")
NOTEBOOKS = ("quickstart.ipynb", "video_features.ipynb")
CELL_TIMEOUT_S = 600


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(os.path.join(COLABS, name), as_version=4)


def _parameters_index(nb: nbformat.NotebookNode) -> int:
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"expected one cell tagged 'parameters', found {len(tagged)}"
    return tagged[0]


def _execute(name: str, cwd: str, **params) -> nbformat.NotebookNode:
    """Runs notebook `name` with `params` injected after its parameters cell; returns it executed."""
    nb = _read(name)
    i = _parameters_index(nb)
    declared = set(re.findall(r"^([A-Z_][A-Z0-9_]*) =", nb.cells[i].source, re.M))
    assert set(params) <= declared, f"{name} has no parameters {sorted(set(params) - declared)}"
    injected = nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in params.items()))
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(i + 1, injected)
    NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": cwd}}).execute()
    return nb


def _outputs(nb: nbformat.NotebookNode) -> tuple[str, str, int]:
    """(all stream text, all markdown/plain display text, number of PNG images) of a run."""
    text, shown, images = [], [], 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                text.append(out.text)
            elif out.output_type in ("display_data", "execute_result"):
                images += "image/png" in out.data
                shown.append(out.data.get("text/markdown", "") + out.data.get("text/plain", ""))
    return "".join(text), "\n".join(shown), images


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Executes quickstart, then video_features on its workdir; returns both executed notebooks."""
    root = tmp_path_factory.mktemp("colabs")
    data_dir, workdir = str(root / "data"), str(root / "run")
    flags = " ".join(
        f for f in os.environ.get("XLA_FLAGS", "").split() if not f.startswith("--xla_force_host_platform_device_count")
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XLA_FLAGS", flags)
        quickstart = _execute(
            "quickstart.ipynb",
            str(root),
            STEPS=3,
            BATCH_SIZE=8,
            KNN_K=5,
            NUM_SHOW=2,
            TSNE_POINTS=30,
            DEMO_SIZES=dict(num_train=60, num_test=30, num_frames=16),
            DATA_DIR=data_dir,
            WORKDIR=workdir,
        )
        video = _execute(
            "video_features.ipynb",
            str(root),
            WORKDIR=workdir,
            DEMO_SEGMENTS=4,
            SEGMENT_FRAMES=16,
            TOP_K=3,
            FALLBACK_STEPS=2,
            DATA_DIR=data_dir,
        )
    return {"quickstart": quickstart, "video": video, "workdir": workdir, "root": root}


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebooks_are_stored_without_outputs(name):
    nb = _read(name)
    nbformat.validate(nb)
    _parameters_index(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{name}: a code cell has outputs; strip them (e.g. `jupyter nbconvert --clear-output "
                f"--inplace colabs/{name}`): {cell.source[:60]!r}"
            )


def test_quickstart_trains_probes_and_plots(runs):
    results = json.load(open(os.path.join(runs["workdir"], "results.json")))
    assert results["steps"] == 3 and results["method"] == "moco"
    text, shown, images = _outputs(runs["quickstart"])
    assert "| ρmoco | 2 | 3 |" in shown and "| random init | 2 | 0 |" in shown  # the results table
    assert "JAX" in text and "[CpuDevice(id=0)]" in text  # one device, as on a Colab CPU runtime
    # rendered videos, ρ clips before/after, training curve, t-SNE map
    assert images == 4


def test_video_features_embeds_and_retrieves(runs):
    text, shown, images = _outputs(runs["video"])
    assert os.path.exists(runs["root"] / "demo_video.mp4")
    assert "step 3: 256-d features of 4-frame clips" in text
    assert "8 clips at 10 fps; features (8, 256)" in text  # 4 segments × 16 frames, 8-frame clips
    assert re.search(r"top-1 neighbour from the clip's own segment: \d+%", text)
    assert re.search(r"3-NN majority vote = true motion: \d+%", text)
    assert "| 0.0s · 1 slow |" in shown  # the clip-to-clip neighbour table, first row
    assert images == 2  # clip thumbnails, similarity matrix
