"""The rules of the server, framework-free: each service takes a session and returns
results or raises :class:`~tekcify_auth.server.errors.ApiError` /
:class:`~tekcify_auth.server.errors.OAuthError`."""
