// Runs @tekcify/auth-backend's exports against our server, one scenario per export.
//
//   node --require ./rewrite-origin.cjs driver.cjs SCENARIO < context.json
//   node driver.cjs --exports          (the names the package exports, as JSON)
//
// The context (stdin, JSON) carries what the scenario needs: tokens, the HS256 secret,
// ids, a PNG as base64. The scenario calls the export(s) as a Node service would and
// prints one JSON line: {"ok": true, "value": ..., "fetches": [...]} or
// {"ok": false, "error": "...", "fetches": [...]}. `fetches` lists each request the
// package made (method, path, status; see rewrite-origin.cjs). Python asserts the shapes.
// An expected refusal is reported as {threw, status, message} by `outcome` inside the value.
'use strict';

const pkg = require('@tekcify/auth-backend');

/** The result of a call that may throw: {returned} or {threw, status?, message}. */
async function outcome(promiseOrThunk) {
  try {
    const value = typeof promiseOrThunk === 'function' ? await promiseOrThunk() : await promiseOrThunk;
    return { returned: value === undefined ? '<undefined>' : value };
  } catch (error) {
    const status = typeof error.getStatus === 'function' ? error.getStatus() : null;
    return { threw: error.constructor.name, status, message: String(error.message) };
  }
}

/** What a void function resolved to, as JSON can say it. */
function voidResult(value) {
  return value === undefined ? '<undefined>' : value;
}

/** NestJS's ExecutionContext as the guards and CurrentUser use it: switchToHttp().getRequest(). */
function httpContext(request) {
  return {
    switchToHttp: () => ({ getRequest: () => request, getResponse: () => ({}), getNext: () => () => {} }),
    getType: () => 'http',
    getClass: () => Object,
    getHandler: () => () => {},
    getArgs: () => [request, {}, () => {}],
    getArgByIndex: (i) => [request, {}, () => {}][i],
  };
}

async function runGuard(guard, headers) {
  const request = { headers };
  const result = await outcome(guard.canActivate(httpContext(request)));
  return { ...result, user: request.user ?? null };
}

/** Express's req/res/next, as much as the middleware touches. */
async function runMiddleware(middleware, headers) {
  const request = { headers };
  const response = {
    statusCode: 200,
    body: null,
    status(code) { this.statusCode = code; return this; },
    json(body) { this.body = body; return this; },
  };
  let nextCalled = false;
  await middleware(request, response, () => { nextCalled = true; });
  return { next: nextCalled, status: response.statusCode, body: response.body, user: request.user ?? null };
}

function bearer(token) {
  return { authorization: `Bearer ${token}` };
}

/** A token whose signature no longer matches (last character of the signature changed). */
function tampered(token) {
  const last = token.slice(-2, -1) === 'A' ? 'B' : 'A';
  return token.slice(0, -2) + last + token.slice(-1);
}

function kidOf(token) {
  return JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString('utf8')).kid;
}

function pngBlob(c) {
  return new Blob([Buffer.from(c.png, 'base64')], { type: 'image/png' });
}

/** getUserInfo as a service writes it: ask the auth server who the token's user is. */
function userInfoFrom(token) {
  return async (userId) => {
    const info = await pkg.fetchUserInfo(token);
    return info.sub === userId ? { email: info.email } : null;
  };
}

const scenarios = {
  // -- the harness itself ----------------------------------------------------------------
  async fetchElsewhere() {
    // rewrite-origin.cjs refuses any origin but the package's and the test server's.
    return { elsewhere: await outcome(fetch('https://elsewhere.invalid/api/oauth/userinfo')) };
  },

  // -- verifying tokens ------------------------------------------------------------------
  async verifyAccessToken(c) {
    return {
      good: pkg.verifyAccessToken(c.token, { secret: c.secret }),
      explicit: pkg.verifyAccessToken(c.token, { secret: c.secret, issuer: 'tekcify-auth', audience: 'tekcify-api' }),
      wrongSecret: pkg.verifyAccessToken(c.token, { secret: `${c.secret}-not` }),
      wrongAudience: pkg.verifyAccessToken(c.token, { secret: c.secret, audience: 'another-api' }),
      tampered: pkg.verifyAccessToken(tampered(c.token), { secret: c.secret }),
      garbage: pkg.verifyAccessToken('not.a.jwt', { secret: c.secret }),
    };
  },
  async decodeToken(c) {
    return { payload: pkg.decodeToken(c.token), garbage: pkg.decodeToken('garbage') };
  },
  async JwksVerifier(c) {
    const verifier = new pkg.JwksVerifier({ jwksUri: c.jwksUri, rateLimit: false });
    return {
      good: await verifier.verify(c.token),
      tampered: await verifier.verify(tampered(c.token)),
      hs256: await verifier.verify(c.otherToken),
      publicKey: await verifier.getPublicKey(kidOf(c.token)),
      unknownKid: await outcome(verifier.getPublicKey('no-such-kid')),
    };
  },
  async createJwksVerifier(c) {
    // By authServerUrl: the package appends /api/.well-known/jwks.json.
    const verifier = pkg.createJwksVerifier({ authServerUrl: c.authServerUrl });
    return { good: await verifier.verify(c.token), tampered: await verifier.verify(tampered(c.token)) };
  },
  async JwtAuthGuard(c) {
    const guard = new pkg.JwtAuthGuard({ secret: c.secret, getUserInfo: userInfoFrom(c.token) });
    return {
      allowed: await runGuard(guard, bearer(c.token)),
      missing: await runGuard(guard, {}),
      basic: await runGuard(guard, { authorization: 'Basic dXNlcjpwYXNz' }),
      tampered: await runGuard(guard, bearer(tampered(c.token))),
      unknownUser: await runGuard(new pkg.JwtAuthGuard({ secret: c.secret, getUserInfo: async () => null }), bearer(c.token)),
    };
  },
  async JwksAuthGuard(c) {
    const guard = new pkg.JwksAuthGuard({ authServerUrl: c.authServerUrl, getUserInfo: userInfoFrom(c.token) });
    return {
      allowed: await runGuard(guard, bearer(c.token)),
      missing: await runGuard(guard, {}),
      tampered: await runGuard(guard, bearer(tampered(c.token))),
    };
  },
  async CurrentUser(c) {
    // What NestJS does with @CurrentUser() on a handler's parameter: it keeps the
    // decorator's factory in the route-arguments metadata and calls it with the request's
    // ExecutionContext once the guard has set request.user.
    const { ROUTE_ARGS_METADATA } = require('@nestjs/common/constants');
    class ProfileController {
      me(user) { return user; }
    }
    pkg.CurrentUser()(ProfileController.prototype, 'me', 0);
    const metadata = Reflect.getMetadata(ROUTE_ARGS_METADATA, ProfileController, 'me');
    const [argument] = Object.values(metadata);
    const request = { headers: bearer(c.token) };
    const guarded = await outcome(new pkg.JwtAuthGuard({ secret: c.secret }).canActivate(httpContext(request)));
    const user = argument.factory(argument.data, httpContext(request));
    return { guarded, index: argument.index, user: new ProfileController().me(user) };
  },
  async createAuthMiddleware(c) {
    const middleware = pkg.createAuthMiddleware({ secret: c.secret, getUserInfo: userInfoFrom(c.token) });
    return {
      allowed: await runMiddleware(middleware, bearer(c.token)),
      missing: await runMiddleware(middleware, {}),
      tampered: await runMiddleware(middleware, bearer(tampered(c.token))),
      unknownUser: await runMiddleware(pkg.createAuthMiddleware({ secret: c.secret, getUserInfo: async () => null }), bearer(c.token)),
    };
  },
  async createJwksAuthMiddleware(c) {
    const middleware = pkg.createJwksAuthMiddleware({ jwksUri: c.jwksUri, getUserInfo: userInfoFrom(c.token) });
    return {
      allowed: await runMiddleware(middleware, bearer(c.token)),
      missing: await runMiddleware(middleware, {}),
      tampered: await runMiddleware(middleware, bearer(tampered(c.token))),
    };
  },

  // -- asking the server about a token ---------------------------------------------------
  async fetchUserInfo(c) {
    return { info: await pkg.fetchUserInfo(c.token), tampered: await outcome(pkg.fetchUserInfo(tampered(c.token))) };
  },
  async introspectAccessToken(c) {
    const client = { clientId: c.clientId, clientSecret: c.clientSecret };
    return {
      active: await pkg.introspectAccessToken({ token: c.token, ...client }),
      inactive: await pkg.introspectAccessToken({ token: tampered(c.token), ...client }),
    };
  },

  // -- the user's profile and account ----------------------------------------------------
  async getUserProfile(c) {
    return { profile: await pkg.getUserProfile(c.token), tampered: await outcome(pkg.getUserProfile(tampered(c.token))) };
  },
  async updateUserProfile(c) {
    return {
      updated: await pkg.updateUserProfile(c.token, { firstName: 'Ada', lastName: 'Lovelace' }),
      partial: await pkg.updateUserProfile(c.token, { lastName: 'Byron' }),
    };
  },
  async uploadProfilePicture(c) {
    return {
      uploaded: await pkg.uploadProfilePicture(c.token, pngBlob(c), 'me.png'),
      notAnImage: await outcome(pkg.uploadProfilePicture(c.token, new Blob(['<svg/>'], { type: 'image/png' }), 'x.png')),
      profile: await pkg.getUserProfile(c.token),
    };
  },
  async exportUserData(c) {
    return { exported: await pkg.exportUserData(c.token) };
  },
  async deleteAccount(c) {
    const proof = c.sensitiveActionToken ? { sensitiveActionToken: c.sensitiveActionToken } : { password: c.password };
    return {
      wrongPassword: await outcome(pkg.deleteAccount(c.token, { password: `${c.password}-not`, confirmDelete: true })),
      deleted: await pkg.deleteAccount(c.token, { ...proof, confirmDelete: true }),
      profileAfter: await outcome(pkg.getUserProfile(c.token)),
    };
  },

  // -- applications ----------------------------------------------------------------------
  async listApplications(c) {
    return {
      defaults: await pkg.listApplications(c.token),
      paged: await pkg.listApplications(c.token, { page: 2, limit: 1 }),
    };
  },
  async getApplicationByClientId(c) {
    return {
      application: await pkg.getApplicationByClientId(c.clientId),
      unknown: await outcome(pkg.getApplicationByClientId('no-such-client')),
    };
  },
  async createApplication(c) {
    return {
      created: await pkg.createApplication(c.token, c.application),
      badColor: await outcome(pkg.createApplication(c.token, { ...c.application, primaryColor: 'red' })),
    };
  },
  async updateApplication(c) {
    return {
      updated: await pkg.updateApplication(c.token, c.clientId, { name: 'Renamed by Node', description: 'changed', primaryColor: '#00aa11' }),
      after: await pkg.getApplicationByClientId(c.clientId),
      notMine: await outcome(pkg.updateApplication(c.otherToken, c.clientId, { name: 'Hijacked' })),
    };
  },
  async deleteApplication(c) {
    return {
      notMine: await outcome(pkg.deleteApplication(c.otherToken, c.clientId)),
      deleted: await pkg.deleteApplication(c.token, c.clientId),
      after: await outcome(pkg.getApplicationByClientId(c.clientId)),
    };
  },
  async uploadApplicationLogo(c) {
    return {
      uploaded: await pkg.uploadApplicationLogo(c.token, c.clientId, pngBlob(c), 'logo.png'),
      after: await pkg.getApplicationByClientId(c.clientId),
    };
  },
  async regenerateApplicationSecret(c) {
    const regenerated = await pkg.regenerateApplicationSecret(c.token, c.clientId);
    const introspect = (clientSecret) => pkg.introspectAccessToken({ token: c.token, clientId: c.clientId, clientSecret });
    return {
      regenerated,
      oldSecret: await outcome(introspect(c.clientSecret)),
      newSecret: await introspect(regenerated.clientSecret),
    };
  },
  async listConnectedApps(c) {
    return { connected: await pkg.listConnectedApps(c.token) };
  },
  async revokeConnectedApp(c) {
    return {
      revoked: await pkg.revokeConnectedApp(c.token, c.clientId),
      after: await pkg.listConnectedApps(c.token),
    };
  },

  // -- security.js -----------------------------------------------------------------------
  async getPasskeyRegistrationOptions(c) {
    return { options: await pkg.getPasskeyRegistrationOptions(c.token) };
  },
  // The credential comes from the test's software authenticator (webauthn_soft.py), made
  // for the options the previous scenario fetched.
  async passkeys(c) {
    const registered = await pkg.registerPasskey(c.token, { credential: c.credential, challenge: c.challenge, name: c.name });
    return {
      registered,
      reused: await outcome(pkg.registerPasskey(c.token, { credential: c.credential, challenge: c.challenge })),
      listed: await pkg.listPasskeys(c.token),
      renamed: await pkg.renamePasskey(c.token, registered.credentialId, { name: c.newName }),
      othersRename: await outcome(pkg.renamePasskey(c.otherToken, registered.credentialId, { name: 'mine' })),
      othersDelete: await outcome(pkg.deletePasskey(c.otherToken, registered.credentialId)),
      deleted: voidResult(await pkg.deletePasskey(c.token, registered.credentialId)),
      after: await pkg.listPasskeys(c.token),
    };
  },
  async getAuthMethods(c) {
    return { methods: await pkg.getAuthMethods(c.token) };
  },
  // The user linked an identity at the provider c.provider through the pages first.
  async socialProviders(c) {
    return {
      listed: await pkg.listSocialProviders(c.token),
      methods: await pkg.getAuthMethods(c.token),
      unknown: await outcome(pkg.disconnectSocialProvider(c.token, 'nowhere')),
      disconnected: voidResult(await pkg.disconnectSocialProvider(c.token, c.provider)),
      after: await pkg.listSocialProviders(c.token),
    };
  },
  async setOrChangePassword(c) {
    return {
      wrongCurrent: await outcome(pkg.setOrChangePassword(c.token, { currentPassword: `${c.password}-not`, newPassword: c.newPassword })),
      changed: await pkg.setOrChangePassword(c.token, { currentPassword: c.password, newPassword: c.newPassword }),
    };
  },
  async changePassword(c) {
    return {
      wrongCurrent: await outcome(pkg.changePassword(c.token, { currentPassword: `${c.password}-not`, newPassword: c.newPassword })),
      changed: voidResult(await pkg.changePassword(c.token, { currentPassword: c.password, newPassword: c.newPassword })),
    };
  },
  // -- two-factor sign-in (issue 14) ------------------------------------------------------
  async setupMfa(c) {
    return {
      wrongPassword: await outcome(pkg.setupMfa(c.token, { password: `${c.password}-not` })),
      setup: await pkg.setupMfa(c.token, { password: c.password }),
    };
  },
  async verifyMfaSetup(c) {
    return {
      wrongCode: await outcome(pkg.verifyMfaSetup(c.token, { code: c.wrongCode })),
      verified: voidResult(await pkg.verifyMfaSetup(c.token, { code: c.code })),
    };
  },
  async mfaCodes(c) {
    const regenerated = await pkg.regenerateBackupCodes(c.token, { password: c.password, mfaCode: c.backupCodes[0] });
    const fresh = regenerated.backupCodes;
    return {
      regenerated,
      oldCode: await outcome(pkg.disableMfa(c.token, { password: c.password, mfaCode: c.backupCodes[1] })),
      changeWithoutCode: await outcome(pkg.changePassword(c.token, { currentPassword: c.password, newPassword: c.newPassword })),
      deleteWithoutCode: await outcome(pkg.deleteAccount(c.token, { password: c.password, confirmDelete: true })),
      changed: voidResult(await pkg.changePassword(c.token, { currentPassword: c.password, newPassword: c.newPassword, mfaCode: fresh[0] })),
      disabled: voidResult(await pkg.disableMfa(c.token, { password: c.newPassword, mfaCode: fresh[1] })),
    };
  },
  async deleteAccountWithMfa(c) {
    return {
      deleted: await pkg.deleteAccount(c.token, { password: c.password, mfaCode: c.mfaCode, confirmDelete: true }),
      profileAfter: await outcome(pkg.getUserProfile(c.token)),
    };
  },
  async listSessions(c) {
    return { sessions: await pkg.listSessions(c.token) };
  },
  async revokeSession(c) {
    return {
      revoked: voidResult(await pkg.revokeSession(c.token, c.sessionId)),
      unknown: await outcome(pkg.revokeSession(c.token, '00000000-0000-4000-8000-000000000000')),
      after: await pkg.listSessions(c.token),
    };
  },
  async revokeAllSessions(c) {
    return { revoked: voidResult(await pkg.revokeAllSessions(c.token)), after: await pkg.listSessions(c.token) };
  },
  async logout(c) {
    return { loggedOut: voidResult(await pkg.logout(c.token)) };
  },
  async getSecurityActivities(c) {
    return {
      all: await pkg.getSecurityActivities(c.token),
      page: await pkg.getSecurityActivities(c.token, { limit: 1, offset: 1 }),
      ofType: await pkg.getSecurityActivities(c.token, { activityType: c.activityType }),
    };
  },
  async initiateSensitiveAction(c) {
    return { initiated: await pkg.initiateSensitiveAction(c.token, c.action) };
  },
  async sendSensitiveActionCode(c) {
    return { sent: await pkg.sendSensitiveActionCode(c.token, c.action) };
  },
  async verifySensitiveActionCode(c) {
    return {
      wrongCode: await outcome(pkg.verifySensitiveActionCode(c.token, c.action, c.wrongCode)),
      verified: await pkg.verifySensitiveActionCode(c.token, c.action, c.code),
      reused: await outcome(pkg.verifySensitiveActionCode(c.token, c.action, c.code)),
    };
  },
};

async function main() {
  const [name] = process.argv.slice(2);
  if (name === '--exports') {
    const names = Object.keys(pkg).sort();
    const kinds = Object.fromEntries(names.map((n) => [n, typeof pkg[n]]));
    process.stdout.write(`${JSON.stringify({ names, kinds })}\n`);
    return;
  }
  const scenario = scenarios[name];
  if (!scenario) {
    throw new Error(`no scenario ${JSON.stringify(name)}; known: ${Object.keys(scenarios).join(', ')}`);
  }
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const context = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
  let report;
  try {
    report = { ok: true, value: await scenario(context) };
  } catch (error) {
    report = { ok: false, error: String(error && error.stack ? error.stack : error) };
  }
  report.fetches = globalThis.__fetches ?? [];
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main().catch((error) => {
  process.stderr.write(`${error && error.stack ? error.stack : error}\n`);
  process.exit(2);
});
