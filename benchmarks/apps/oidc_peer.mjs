// The peer of benchmarks/peers.py: the npm `oidc-provider` (OpenID Certified), one Node
// process, its default in-memory adapter, serving the endpoints peers.py loads:
// POST /token (client_credentials), POST /token/introspection, GET /me (userinfo) and
// GET /jwks. One confidential client authenticates with client_secret_basic, as ours does.
//
//   OIDC_PROVIDER=<path to oidc-provider's lib/index.js> PORT=<port> \
//   CLIENT_ID=<id> CLIENT_SECRET=<secret> node oidc_peer.mjs
//
// peers.py installs oidc-provider into a cache folder and passes its entry point. When the
// server listens, one JSON line goes to stdout: {"ready": true}. Each line read on stdin
// then gets one back: {"userToken": "..."}, a new opaque access token (scope "openid email
// profile") of a user's grant to that client, saved here as an authorization-code exchange
// would have saved it. Fresh ones are needed: the in-memory adapter keeps the last 1,000
// entries only, and a client_credentials load pushes older tokens out.
import { generateKeyPairSync } from 'node:crypto';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

const { default: Provider } = await import(pathToFileURL(process.env.OIDC_PROVIDER).href);
const port = Number(process.env.PORT);
const clientId = process.env.CLIENT_ID;
const clientSecret = process.env.CLIENT_SECRET;
const accountId = 'bench-user';

// One RS256 signing key of our own (the default would be oidc-provider's development keys).
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench', alg: 'RS256', use: 'sig' };

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code', 'client_credentials'],
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1:9/callback'],
    scope: 'openid email profile read:profile',
  }],
  scopes: ['openid', 'email', 'profile', 'read:profile'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['given_name', 'family_name', 'name', 'picture', 'updated_at'],
  },
  findAccount: async (ctx, sub) => ({
    accountId: sub,
    claims: async () => ({
      sub,
      email: 'bench@example.com',
      email_verified: true,
      given_name: 'Bench',
      family_name: 'User',
      name: 'Bench User',
      picture: null,
      updated_at: 1764720000,
    }),
  }),
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // The default's policy, without its "you SHOULD change it" notice.
      allowedPolicy: async (ctx, client, token) => !(
        client.clientAuthMethod === 'none' && token.clientId !== ctx.oidc.client.clientId
      ),
    },
  },
  jwks: { keys: [jwk] },
  ttl: { AccessToken: 3600, ClientCredentials: 3600, Grant: 86400, Session: 86400 },
  cookies: { keys: ['bench-cookie-key-not-used'] },
});

async function userToken() {
  const client = await provider.Client.find(clientId);
  const grant = new provider.Grant({ accountId, clientId });
  grant.addOIDCScope('openid email profile');
  const grantId = await grant.save();
  return new provider.AccessToken({
    accountId, client, grantId, gty: 'authorization_code', scope: 'openid email profile',
  }).save();
}

const server = provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
  createInterface({ input: process.stdin }).on('line', async () => {
    process.stdout.write(`${JSON.stringify({ userToken: await userToken() })}\n`);
  });
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
