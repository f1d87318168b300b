"""Core Script Management Service: Scripts and their section headings, numbered by the Central Sequence Service."""
