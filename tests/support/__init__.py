"""Helpers shared by tests: fake upstream servers."""
