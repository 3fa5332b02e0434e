"""Tests of the optimizer package (pure Python, no Home Assistant needed)."""
