"""Repository-level pytest configuration only (fixtures live in tests/conftest.py)."""
