"""rhovid: self-supervised spatiotemporal representation learning (ρSimCLR, ρMoCo, ρBYOL, ρSwAV) in JAX."""

import setuptools


def _editable_options() -> dict:
    """`pip install -e .` in setuptools' 'compat' mode, where this setuptools still has it.

    Compat mode puts the checkout on sys.path (a .pth entry) instead of an import hook that runs
    after the path search: with the hook, a folder named `rhovid/` in the working directory (the
    clone's own folder, seen from one level up) shadows the package as an empty namespace package
    ("No module named 'rhovid.cli'"). setuptools calls the mode transitional; without it the
    default mode applies.
    """
    try:
        from setuptools.command.editable_wheel import _EditableMode
    except ImportError:
        return {}
    return {"editable_wheel": {"mode": "compat"}} if "COMPAT" in _EditableMode.__members__ else {}


setuptools.setup(
    name="rhovid",
    version="0.1.0",
    description="JAX/Flax reimplementation of 'A Large-Scale Study on Unsupervised "
    "Spatiotemporal Representation Learning' (Feichtenhofer et al., CVPR 2021).",
    # The experiment configs ship inside the package: the repository's `configs/` folder is the
    # package `rhovid.configs`, so `--config=configs/byol.py` works from any directory after a plain
    # `pip install .` (rhovid.cli looks there when the path does not exist in the working directory).
    packages=setuptools.find_packages(include=["rhovid", "rhovid.*"])
    + ["rhovid.configs", *(f"rhovid.configs.{p}" for p in setuptools.find_packages("configs"))],
    package_dir={"rhovid.configs": "configs"},
    options=_editable_options(),
    python_requires=">=3.10",
    install_requires=[
        "jax>=0.10,<0.11",
        "flax>=0.12,<0.13",
        "optax>=0.2.8,<0.3",
        "orbax-checkpoint>=0.12,<0.13",
        "ml_collections>=1.0",
        "clu>=0.0.12,<0.1",
        "tensorflow-cpu>=2.21,<2.22",
        "tensorflow-datasets>=4.9,<5",
        "tensorboard>=2.15",
        "av>=12",
        "numpy>=1.26",
        "scikit-learn>=1.4",
        "scipy>=1.11",
        "matplotlib>=3.8",
        "absl-py>=2.0",
        "tqdm>=4.60",
        "Pillow>=10",
    ],
    extras_require={
        "test": ["pytest>=8", "nbformat>=5", "nbclient>=0.10", "ipykernel>=6", "ruff>=0.6", "scikit-video"],
        "torch": ["torch>=2.9"],
        "beam": ["apache-beam>=2.50", "importlib_resources"],
    },
)
