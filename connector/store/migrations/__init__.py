"""Alembic migrations of the tokenbooks store (SQLite and PostgreSQL)."""
