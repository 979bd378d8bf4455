"""OpenID Connect: id tokens and their hints (``id_tokens.py``)."""
