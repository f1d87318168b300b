"""Typed clients of the services this one calls (generated)."""
