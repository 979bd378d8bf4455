"""HTTP routers, thin: read the request, call a service, shape the answer."""
