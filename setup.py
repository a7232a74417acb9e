"""Package layout that pyproject.toml cannot express: the repository's ``models/`` folder is installed
as the data package ``scrapl_live.shipped_models`` (found by ``scrapl_live.resources``)."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["scrapl_live*", "synths*"]) + ["scrapl_live.shipped_models"],
    package_dir={"scrapl_live.shipped_models": "models"},
)
