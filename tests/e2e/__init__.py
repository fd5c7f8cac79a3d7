"""End-to-end tests against the real local stack.

A package, so that its conftest does not shadow tests/conftest.py as the module `conftest`.
"""
