// Preloaded with `node --require` before the driver: @tekcify/auth-backend's modules call
// `fetch` on an https origin that is a constant in each module. This wraps globalThis.fetch
// so that a request to that origin (TEKCIFY_NODE_REMOTE_ORIGIN) goes to our test server
// (TEKCIFY_NODE_SERVER, http://localhost:PORT) with the same path, query, method, headers
// and body. Any other origin than these two is refused, so no request ever leaves the
// machine. Every call is logged in globalThis.__fetches for the driver's report.
'use strict';

const remote = process.env.TEKCIFY_NODE_REMOTE_ORIGIN;
const server = process.env.TEKCIFY_NODE_SERVER;
if (!remote || !server) {
  throw new Error('rewrite-origin.cjs needs TEKCIFY_NODE_REMOTE_ORIGIN and TEKCIFY_NODE_SERVER');
}
const remoteOrigin = new URL(remote).origin;
const serverUrl = new URL(server);
const original = globalThis.fetch;
globalThis.__fetches = [];

globalThis.fetch = async function rewrittenFetch(input, init) {
  const request = input instanceof Request ? input : null;
  const url = new URL(request ? request.url : String(input));
  if (url.origin === remoteOrigin) {
    url.protocol = serverUrl.protocol;
    url.host = serverUrl.host;
  } else if (url.origin !== serverUrl.origin) {
    throw new Error(`rewrite-origin.cjs: a fetch to ${url.origin}, neither the package's origin nor the test server`);
  }
  const target = request ? new Request(url, request) : url;
  const method = (init && init.method) || (request && request.method) || 'GET';
  const response = await original(target, init);
  globalThis.__fetches.push({ method, path: url.pathname + url.search, status: response.status });
  return response;
};
