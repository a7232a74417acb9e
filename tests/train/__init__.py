"""Tests for scrapl_live.train."""
