"""rhovid: self-supervised spatiotemporal representation learning in JAX (ρSimCLR, ρMoCo, ρBYOL, ρSwAV)."""

__version__ = "0.1.0"
