"""Alembic migrations of the server (applied at start and by ``tekcify-auth db upgrade``)."""
