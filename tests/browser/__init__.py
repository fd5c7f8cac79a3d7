"""Browser tests: the web UI in headless Chromium against a real local stack.

A package, so that its conftest does not shadow tests/conftest.py as the module `conftest`.
"""
