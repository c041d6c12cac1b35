"""PatSparse: pattern-based sparsity for CNNs, from PyTorch pruning to phone code."""
__version__ = "0.1.0"
