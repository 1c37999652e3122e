"""Shim for ``--setup_file ./setup.py``: Beam runs ``python setup.py sdist`` to ship the package to
remote workers. Everything (name, packages, package data, dependencies) is declared in pyproject.toml."""

from setuptools import setup

setup()
