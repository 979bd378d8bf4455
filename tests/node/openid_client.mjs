// Runs npm `openid-client` 6 (an OpenID Certified relying party) against our server, one
// step of a sign-in per run; Python drives our login, consent and logout pages in between.
//
//   node openid_client.mjs STEP < context.json
//
// The context (stdin, JSON): {issuer, clientId, clientSecret (absent: a public client, auth
// method "none"), redirectUri, scope, postLogoutRedirectUri} plus what the step needs. It
// prints one JSON line: {"ok": true, "value": ...} or {"ok": false, "error": {name, code,
// message}}; a refusal the test expects is such an error.
//
// Steps:
//   discover  the configuration openid-client read from /.well-known/openid-configuration;
//   start     a new PKCE verifier, nonce and state, and the authorization URL carrying them
//             ({withoutNonce}: all but the nonce);
//   callback  {callbackUrl, verifier, nonce, state}: the code exchange, with the id token
//             validated (signature, iss, aud, exp, nonce), then userinfo, a refresh (and its
//             new id token), and the end-session URL openid-client builds with
//             {logoutState} and the latest id token as the hint.
import { pathToFileURL } from 'node:url';

// The installed package's entry point (OPENID_CLIENT_ENTRY): ES modules ignore NODE_PATH.
const client = await import(pathToFileURL(process.env.OPENID_CLIENT_ENTRY).href);

function readStdin() {
  return new Promise((resolve, reject) => {
    let data = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk) => { data += chunk; });
    process.stdin.on('end', () => resolve(data));
    process.stdin.on('error', reject);
  });
}

async function configuration(c) {
  // Our test server is plain http on this machine; openid-client asks for that to be said.
  const options = { execute: [client.allowInsecureRequests] };
  if (c.clientSecret) {
    return client.discovery(new URL(c.issuer), c.clientId, c.clientSecret,
      client.ClientSecretBasic(c.clientSecret), options);
  }
  return client.discovery(new URL(c.issuer), c.clientId, undefined, client.None(), options);
}

const steps = {
  async discover(c) {
    const config = await configuration(c);
    const meta = config.serverMetadata();
    return {
      issuer: meta.issuer,
      authorization_endpoint: meta.authorization_endpoint,
      token_endpoint: meta.token_endpoint,
      userinfo_endpoint: meta.userinfo_endpoint,
      jwks_uri: meta.jwks_uri,
      end_session_endpoint: meta.end_session_endpoint,
      supportsPKCE: meta.code_challenge_methods_supported?.includes('S256') ?? false,
    };
  },

  async start(c) {
    const config = await configuration(c);
    const verifier = client.randomPKCECodeVerifier();
    const nonce = client.randomNonce();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: c.redirectUri,
      scope: c.scope,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      // {withoutNonce}: the request carries none (the test then expects one anyway).
      ...(c.withoutNonce ? {} : { nonce }),
      state,
    });
    return { url: url.href, verifier, nonce, state };
  },

  async callback(c) {
    const config = await configuration(c);
    const tokens = await client.authorizationCodeGrant(config, new URL(c.callbackUrl), {
      pkceCodeVerifier: c.verifier,
      expectedNonce: c.nonce,
      expectedState: c.state,
      idTokenExpected: true,
    });
    const claims = tokens.claims();
    const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
    const refreshedClaims = refreshed.claims() ?? null;
    const hint = refreshed.id_token ?? tokens.id_token;
    const endSession = client.buildEndSessionUrl(config, {
      id_token_hint: hint,
      post_logout_redirect_uri: c.postLogoutRedirectUri,
      state: c.logoutState,
    });
    return {
      claims,
      scope: tokens.scope ?? null,
      hasRefreshToken: Boolean(tokens.refresh_token),
      userinfo,
      refreshed: {
        claims: refreshedClaims,
        newAccessToken: refreshed.access_token !== tokens.access_token,
        newIdToken: Boolean(refreshed.id_token) && refreshed.id_token !== tokens.id_token,
      },
      endSessionUrl: endSession.href,
    };
  },
};

const step = process.argv[2];
let report;
try {
  if (!(step in steps)) throw new Error(`unknown step ${step}`);
  const context = JSON.parse(await readStdin());
  report = { ok: true, value: await steps[step](context) };
} catch (error) {
  report = {
    ok: false,
    error: {
      name: error?.constructor?.name ?? 'Error', code: error?.code ?? null,
      message: String(error?.message ?? error),
      cause: error?.cause?.message ?? (typeof error?.cause === 'string' ? error.cause : null),
    },
  };
}
process.stdout.write(`${JSON.stringify(report)}\n`);
