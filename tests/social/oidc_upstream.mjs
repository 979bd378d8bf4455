// The upstream provider of tests/server/test_social.py: the npm `oidc-provider` (OpenID
// Certified), one Node process, its in-memory adapter and its development interactions
// (a login form that takes any account id, then a consent form), which the test drives
// with httpx like a browser without scripts.
//
//   OIDC_PROVIDER=<oidc-provider's lib/index.js> PORT=<port> CLIENT_ID=<id> \
//   CLIENT_SECRET=<secret> REDIRECT_URI=<our callback> \
//   ACCOUNTS='{"<account id>": {"email": "...", "email_verified": true, ...}}' \
//   node oidc_upstream.mjs
//
// The account id typed into the login form picks the claims of ACCOUNTS. One JSON line
// goes to stdout when the server listens: {"ready": true}.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';

const { default: Provider } = await import(pathToFileURL(process.env.OIDC_PROVIDER).href);
const port = Number(process.env.PORT);
const accounts = JSON.parse(process.env.ACCOUNTS);

// An RS256 key of its own (not oidc-provider's development keys), under a kid of its own:
// our server caches JWKS by URL, and a later test's provider may get this one's port.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: process.env.CLIENT_ID,
    client_secret: process.env.CLIENT_SECRET,
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [process.env.REDIRECT_URI],
  }],
  scopes: ['openid', 'email', 'profile'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['given_name', 'family_name', 'name'],
  },
  findAccount: async (ctx, sub) => (accounts[sub] ? {
    accountId: sub,
    claims: async () => ({ sub, ...accounts[sub] }),
  } : undefined),
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => true },
  jwks: { keys: [jwk] },
  cookies: { keys: ['social-upstream-test-cookie-key'] },
});
// The development interactions warn once on stderr; that is what this test server is.
const server = provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
