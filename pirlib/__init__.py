"""pirlib."""
