"""scattering package."""
