// node-oidc-provider configured like Ostiary's benchmark (bench/run.sh), for bench/reference/run.sh.
// Written from the package's README and API documentation (docs/README.md of oidc-provider).
//
//   - issuer http://127.0.0.1:$REF_PORT, default in-memory store (the package's own adapter);
//   - a client_credentials client ($REF_CC_ID / $REF_CC_SECRET, client_secret_basic) whose
//     access tokens are ES256 JWTs for https://api.example.com (scope read): the
//     resourceIndicators feature with that resource as the default, so a token request without
//     `resource` gets one; the same client may introspect its own (opaque) tokens at
//     /token/introspection;
//   - a web client ($REF_WEB_ID / $REF_WEB_SECRET, client_secret_basic) for authorization_code
//     and refresh_token, redirect URI https://app.example.com/cb, PKCE (S256) required for every
//     authorization request (pkce.required; the package's default requires it of public
//     clients only), scopes openid offline_access, ID tokens signed $REF_ID_TOKEN_ALG (ES256 or
//     RS256), refresh tokens rotated on every use; a first-party client: loadExistingGrant
//     creates and saves its grant, and the consent that prompt=consent asks for (required for
//     offline_access) is given without a page; its access tokens are ES256 JWTs for the API too;
//   - signing keys: one P-256 and one RSA 2048 key generated at start;
//   - one user, `bench` ($REF_USER_PASSWORD), signed in through minimal interaction routes
//     (GET /interaction/:uid shows a form, POST /interaction/:uid/login checks the password and
//     calls provider.interactionFinished), so the browser ends up with a real session cookie;
//   - GET /healthz answers 200 "ok" before any of the provider's own middleware (the baseline).
//
// Run with NODE_ENV=production. Prints the configuration (client ids and secrets) at start.

import { generateKeyPairSync, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';

import Provider, { errors } from 'oidc-provider';

const port = Number(process.env.REF_PORT || 18090);
const issuer = `http://127.0.0.1:${port}`;
const idTokenAlg = process.env.REF_ID_TOKEN_ALG || 'ES256';
const ccId = process.env.REF_CC_ID || 'bench-cc';
const ccSecret = process.env.REF_CC_SECRET || 'bench-cc-secret-not-a-secret';
const webId = process.env.REF_WEB_ID || 'bench-web';
const webSecret = process.env.REF_WEB_SECRET || 'bench-web-secret-not-a-secret';
const userName = 'bench';
const userPassword = process.env.REF_USER_PASSWORD || 'bench password, not a secret';
const redirectUri = 'https://app.example.com/cb';
const webScopes = ['openid', 'offline_access'];

// The API the access tokens are for (the same audience as Ostiary's benchmark client), and a
// second resource indicator for the same API whose tokens are opaque: node-oidc-provider
// refuses to introspect JWT access tokens (they are self-contained), so the introspection phase
// introspects an opaque client_credentials token instead (bench/reference/run.sh asks for one
// with resource=OPAQUE_RESOURCE).
const API = 'https://api.example.com';
const OPAQUE_RESOURCE = 'https://api.example.com/opaque';

if (!['ES256', 'RS256'].includes(idTokenAlg)) {
  console.error(`REF_ID_TOKEN_ALG must be ES256 or RS256, not ${idTokenAlg}`);
  process.exit(2);
}

// Signing keys, private JWKs. The first key of a type is the one used for signing.
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
ec.kid = 'es256-bench';
ec.use = 'sig';
rsa.kid = 'rs256-bench';
rsa.use = 'sig';

// The user's password, kept as a scrypt digest (checked at sign-in only, never on the
// benchmarked paths).
const salt = randomBytes(16);
const passwordDigest = scryptSync(userPassword, salt, 32);
function passwordMatches(candidate) {
  return timingSafeEqual(scryptSync(candidate, salt, 32), passwordDigest);
}

const ttl = {
  AccessToken: 3600,
  AuthorizationCode: 60,
  ClientCredentials: 3600,
  IdToken: 3600,
  RefreshToken: 14 * 24 * 3600,
  Interaction: 3600,
  Session: 14 * 24 * 3600,
  Grant: 14 * 24 * 3600,
};

// The web client's grant with the requested scopes (those the client may ask for): the grant
// given, or a new one; saved when it changed.
async function firstPartyGrant(Grant, grant, accountId, scope) {
  grant ||= new Grant({ clientId: webId, accountId });
  const granted = new Set(grant.getOIDCScope().split(' '));
  const requested = (scope || '').split(' ').filter((value) => webScopes.includes(value));
  if (!grant.jti || requested.some((value) => !granted.has(value))) {
    grant.addOIDCScope(requested.join(' '));
    await grant.save();
  }
  return grant;
}

const configuration = {
  clients: [
    {
      client_id: ccId,
      client_secret: ccSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      // Its scope, read, is the API's (getResourceServerInfo below), not an OpenID one.
    },
    {
      client_id: webId,
      client_secret: webSecret,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [redirectUri],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: idTokenAlg,
      scope: webScopes.join(' '),
    },
  ],
  jwks: { keys: [ec, rsa] },
  cookies: {
    // Signed cookies, as in production (the session cookie is then checked on every request).
    keys: [randomBytes(32).toString('base64url')],
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // A client may introspect the tokens issued to it.
      async allowedPolicy(ctx, client, token) {
        return token.clientId === client.clientId;
      },
    },
    resourceIndicators: {
      enabled: true,
      // No `resource` in the request: the API. At the token endpoint, one granted resource is
      // the one to use.
      async defaultResource(ctx, client, oneOf) {
        if (oneOf) return oneOf.length === 1 ? oneOf[0] : oneOf;
        return API;
      },
      async useGrantedResource() {
        return true;
      },
      async getResourceServerInfo(ctx, resourceIndicator, client) {
        if (resourceIndicator === API) {
          return {
            scope: 'read',
            audience: API,
            accessTokenTTL: ttl.AccessToken,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'ES256' } },
          };
        }
        if (resourceIndicator === OPAQUE_RESOURCE && client.clientId === ccId) {
          return {
            scope: 'read',
            audience: API,
            accessTokenTTL: ttl.AccessToken,
            accessTokenFormat: 'opaque',
          };
        }
        throw new errors.InvalidTarget();
      },
    },
  },
  pkce: {
    // PKCE (S256, the only method offered) for every authorization request, as Ostiary does.
    required: () => true,
  },
  // Refresh tokens are rotated on every use (a reused one revokes its grant).
  rotateRefreshToken: true,
  async findAccount(ctx, sub) {
    if (sub !== userName) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub };
      },
    };
  },
  // A first-party client: no consent screen. The session's grant for the client is reused;
  // the first authorization after sign-in (or one asking for scopes the grant lacks) adds the
  // requested scopes to it and saves it, as the documentation suggests for first-party clients.
  async loadExistingGrant(ctx) {
    const { client, session } = ctx.oidc;
    const { Grant } = ctx.oidc.provider;
    const grantId = ctx.oidc.result?.consent?.grantId || session.grantIdFor(client.clientId);
    const grant = grantId ? await Grant.find(grantId) : undefined;
    if (client.clientId !== webId || !session.accountId) return grant;
    return firstPartyGrant(Grant, grant, session.accountId, ctx.oidc.params.scope);
  },
  ttl,
};

const provider = new Provider(issuer, configuration);

function html(title, body) {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${title}</title></head><body>${body}</body></html>`;
}

function loginForm(uid, message = '') {
  return html('Sign in', `${message ? `<p>${message}</p>` : ''}
<form method="post" action="/interaction/${uid}/login" autocomplete="off">
<input type="text" name="username" required>
<input type="password" name="password" required>
<button type="submit">Sign in</button>
</form>`);
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 8192) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// Runs before the provider's own routes (Koa middleware).
provider.use(async (ctx, next) => {
  if (ctx.path === '/healthz') {
    ctx.body = 'ok';
    return;
  }
  const interaction = ctx.path.match(/^\/interaction\/([^/]+)(\/login)?$/);
  if (!interaction) {
    await next();
    return;
  }
  ctx.set('Cache-Control', 'no-store');
  const [, uid, login] = interaction;
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.uid !== uid) ctx.throw(400, 'interaction mismatch');
  if (details.prompt.name === 'consent') {
    // Only asked for with prompt=consent, which node-oidc-provider requires before it grants
    // offline_access (OpenID Connect Core 11). The web client is first-party: the consent is
    // given without a page, the browser just follows the redirect back to the authorization.
    if (details.params.client_id !== webId || login || ctx.method !== 'GET') ctx.throw(400, 'unexpected consent');
    const existing = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
    const grant = await firstPartyGrant(provider.Grant, existing, details.session.accountId, details.params.scope);
    ctx.respond = false;
    await provider.interactionFinished(ctx.req, ctx.res, { consent: { grantId: grant.jti } });
    return;
  }
  if (details.prompt.name !== 'login') ctx.throw(500, `unexpected prompt ${details.prompt.name}`);
  if (!login && ctx.method === 'GET') {
    ctx.type = 'html';
    ctx.body = loginForm(uid);
    return;
  }
  if (login && ctx.method === 'POST') {
    const form = await readForm(ctx.req);
    const username = form.get('username') || '';
    const password = form.get('password') || '';
    if (username !== userName || !passwordMatches(password)) {
      ctx.status = 401;
      ctx.type = 'html';
      ctx.body = loginForm(uid, 'Wrong username or password.');
      return;
    }
    ctx.respond = false;
    await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: userName } }, {
      mergeWithLastSubmission: false,
    });
    return;
  }
  ctx.throw(405);
});

provider.on('server_error', (ctx, err) => {
  console.error('server_error', ctx.method, ctx.path, err);
});

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ${issuer} (NODE_ENV=${process.env.NODE_ENV || ''}, node ${process.version})`);
  console.log(`client_credentials client: ${ccId} / ${ccSecret} (access tokens ES256 JWT, aud ${API})`);
  console.log(`web client: ${webId} / ${webSecret} (ID tokens ${idTokenAlg}, redirect ${redirectUri})`);
  console.log(`user: ${userName}`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
