"""The example tests' fixtures: the real auth server and tokens it issued (see
``example_support``)."""

from example_support import auth_server, tokens

__all__ = ["auth_server", "tokens"]
