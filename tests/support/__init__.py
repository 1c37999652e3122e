"""Shared test support, imported as ``tests.support.<module>`` (the repo root is on pytest's pythonpath).

* ``pii``      the fake people of the tests' inputs and the scans that prove none of them leaks;
* ``demo``     the bundled demo policy and CSV;
* ``servers``  real HTTP servers on 127.0.0.1: a scripted JSON API and fake OpenAI / Anthropic APIs;
* ``postgres`` the PostgreSQL server the tests use and a per-test schema;
* ``beam``     the one Beam runner the tests build pipelines on.

The fixtures built on them live in ``tests/conftest.py``.
"""
