"""Test support: pytest plugins and helpers shared by the test suites."""
