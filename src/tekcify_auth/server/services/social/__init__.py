"""Sign-in with upstream providers ("social accounts", issue 15 item 5).

The server is an OAuth 2 / OpenID Connect *client* here, with Authlib's client:

* :mod:`.upstream` talks to the provider: the authorization URL (``state``, ``nonce``,
  PKCE S256), the code exchange, the id token's checks (signature by the provider's
  JWKS, ``iss``, ``aud``, ``exp``, ``nonce``, ``azp``, ``at_hash``) and GitHub's user API;
* :mod:`.flows` keeps each sign-in under way, bound to the browser that started it;
* :mod:`.links` holds the account rules: who a returning identity is, signing up,
  linking (only on an email the provider asserts verified, otherwise after signing in to
  the existing account), and disconnecting (never the last way to sign in).

Providers are configured by ``TEKCIFY_SOCIAL_PROVIDERS_FILE`` (``social_providers.py``).
"""
