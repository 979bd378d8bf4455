"""Runnable services that use tekcify_auth: FastAPI, Flask and Django."""
