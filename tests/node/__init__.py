"""The current Node client, @tekcify/auth-backend 2.2.12, against our server (issue 13)."""
