"""The one small library every FountainAI service shares: settings, database, problem+json errors,
health, idempotency keys, pagination, structured logs and migrations. It never imports a service."""
