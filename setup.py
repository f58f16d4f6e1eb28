"""rhovid: self-supervised spatiotemporal representation learning (ρSimCLR, ρMoCo, ρBYOL, ρSwAV) in JAX."""

import setuptools

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
    # `pip install -e .` puts the checkout on sys.path (a .pth entry) instead of an import hook that
    # runs after the path search: a folder named `rhovid/` in the working directory (the clone's
    # own folder, one level up) would otherwise shadow the package as an empty namespace package.
    options={"editable_wheel": {"mode": "compat"}},
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
