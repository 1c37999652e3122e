"""The ``redactline`` package itself. Its subpackages are the repository's top-level folders (mapped in
``[tool.setuptools.package-dir]``); this folder only holds ``__main__`` (``python -m redactline``)."""
