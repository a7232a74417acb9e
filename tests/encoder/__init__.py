"""Encoder tests."""
