"""`fountain scaffold`: a complete new service from a declared schema (SQL or schema.json)."""
