"""loss package."""
