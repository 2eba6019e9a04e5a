"""Test helpers shared by every test package (import as `tests.support...`)."""
