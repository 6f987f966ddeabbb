import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';

import { SignJWT } from 'jose';
import { authenticator } from 'otplib';
import type { Logger } from 'pino';

import { normalizeUsername } from '../request/username.js';
import {
  CONTENT_SECURITY_POLICY,
  renderAssertionPage,
  renderHomePage,
  renderMfaPage,
} from './pages.js';

export interface DemoUser {
  username: string;
  password: string;
  /** Base32 TOTP secret (RFC 6238, SHA-1, 6 digits, 30-second step). */
  totpSecret: string;
}

export interface DemoAppOptions {
  users: DemoUser[];
  /** Key and claims for the step-up assertion that the gateway verifies. */
  stepUp: {
    privateKey: CryptoKey | KeyObject;
    algorithm: 'ES256';
    issuer: string;
    audience: string;
    ttlSeconds: number;
  };
  logger: Logger;
}

/** Bundled accounts. Their passwords and secrets are public, so they are for the demo only. */
export const DEMO_USERS: readonly DemoUser[] = Object.freeze([
  Object.freeze({
    username: 'alice',
    password: 'wonderland',
    totpSecret: 'PBXHOEDMJIYQUJ3JHYKVQNRFDERRGLZX',
  }),
  Object.freeze({
    username: 'bob',
    password: 'builder',
    totpSecret: 'MNTBWXRBIBHCECCLFFRHEIDYOUFXUACP',
  }),
]);

/** Request header that carries the step-up assertion on the repeated login. */
export const STEP_UP_HEADER = 'Riskgate-Step-Up';

/** Maximum request body size in bytes. A larger body gets 413. */
export const MAX_BODY_BYTES = 64 * 1024;

/** Maximum length of the challenge id that is copied into the assertion. */
const MAX_CHALLENGE_LENGTH = 512;

// A window of 1 also accepts the codes of the previous and the next 30-second step, which
// covers clock drift between the server and the authenticator app.
const totp = authenticator.clone({ window: 1 });

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

interface Account {
  user: DemoUser;
  passwordDigest: Buffer;
}

interface DemoContext {
  accounts: Map<string, Account>;
  /** Account lines shown on the home page. Only bundled accounts include their password. */
  accountList: string[];
  stepUp: DemoAppOptions['stepUp'];
  logger: Logger;
}

type BodyFields = { kind: 'json' | 'form'; fields: Record<string, unknown> };

/** Creates the listener for the demo login app that `riskgate demo` runs behind the gateway. */
export function createDemoApp(options: DemoAppOptions): RequestListener {
  const ttl = options.stepUp.ttlSeconds;
  if (!Number.isInteger(ttl) || ttl <= 0) {
    throw new RangeError(`stepUp.ttlSeconds must be a positive integer, got ${ttl}`);
  }

  const context: DemoContext = {
    accounts: indexAccounts(options.users),
    accountList: options.users.map(describeAccount),
    stepUp: options.stepUp,
    logger: options.logger.child({ component: 'demo-app' }),
  };

  return (request, response) => {
    handleRequest(context, request, response).catch((error: unknown) => {
      sendError(context, request, response, error);
    });
  };
}

function indexAccounts(users: readonly DemoUser[]): Map<string, Account> {
  const accounts = new Map<string, Account>();

  for (const user of users) {
    const key = normalizeUsername(user.username);
    if (accounts.has(key)) {
      throw new Error(
        `duplicate demo user "${user.username}": usernames must differ after normalization`,
      );
    }
    accounts.set(key, { user, passwordDigest: sha256(user.password) });
  }

  return accounts;
}

async function handleRequest(
  context: DemoContext,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const url = parseRequestUrl(request);
  const method = request.method === 'HEAD' ? 'GET' : request.method;

  switch (`${method} ${url.pathname}`) {
    case 'GET /':
      return sendHtml(response, 200, renderHomePage(context.accountList));
    case 'POST /login':
      return handleLogin(context, request, response);
    case 'GET /mfa':
      return sendHtml(response, 200, renderMfaPage(url.searchParams.get('challenge') ?? ''));
    case 'POST /mfa':
      return handleMfa(context, request, response);
    case 'GET /demo/code':
      return handleDemoCode(context, url, response);
  }

  const allowed = ALLOWED_METHODS[url.pathname];
  if (allowed !== undefined) {
    response.setHeader('Allow', allowed);
    throw new HttpError(405, `method ${request.method} is not allowed on ${url.pathname}`);
  }
  throw new HttpError(404, `not found: ${url.pathname}`);
}

const ALLOWED_METHODS: Record<string, string> = {
  '/': 'GET, HEAD',
  '/login': 'POST',
  '/mfa': 'GET, HEAD, POST',
  '/demo/code': 'GET, HEAD',
};

function describeAccount(user: DemoUser): string {
  const bundled = DEMO_USERS.some(
    (demoUser) => demoUser.username === user.username && demoUser.password === user.password,
  );

  return bundled ? `${user.username} / ${user.password}` : user.username;
}

function parseRequestUrl(request: IncomingMessage): URL {
  try {
    return new URL(request.url ?? '/', 'http://demo.invalid');
  } catch {
    throw new HttpError(400, 'invalid request URL');
  }
}

async function handleLogin(
  context: DemoContext,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const { fields } = await readBodyFields(request);
  const username = requireStringField(fields, 'username');
  const password = requireStringField(fields, 'password');

  const key = normalizeUsername(username);
  const account = context.accounts.get(key);
  const passwordMatches = verifyPassword(account?.passwordDigest, password);
  if (account === undefined || !passwordMatches) {
    context.logger.info('login failed: invalid username or password');
    return sendJson(response, 401, { ok: false, error: 'invalid username or password' });
  }

  context.logger.info('login succeeded');
  sendJson(response, 200, { ok: true, user: account.user.username });
}

// Compares SHA-256 digests so that the comparison takes the same time for any password length.
// An unknown user is compared against a dummy digest, so it costs about as much as a wrong
// password.
const UNKNOWN_USER_DIGEST = sha256(randomUUID());

function verifyPassword(expectedDigest: Buffer | undefined, password: string): boolean {
  return timingSafeEqual(sha256(password), expectedDigest ?? UNKNOWN_USER_DIGEST);
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

async function handleMfa(
  context: DemoContext,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const { kind, fields } = await readBodyFields(request);
  const challenge = requireStringField(fields, 'challenge');
  const username = requireStringField(fields, 'username');
  const code = requireStringField(fields, 'code').replace(/\s+/g, '');

  if (challenge === '' || challenge.length > MAX_CHALLENGE_LENGTH) {
    throw new HttpError(400, `field "challenge" must be 1 to ${MAX_CHALLENGE_LENGTH} characters`);
  }

  const key = normalizeUsername(username);
  const account = context.accounts.get(key);
  if (account === undefined || !verifyTotp(context, account, code)) {
    context.logger.info('step-up failed: invalid username or code');
    return sendJson(response, 401, { ok: false, error: 'invalid username or code' });
  }

  // The subject is the account's name as the app stores it, which is what riskgate's exact
  // reading compares with the login, not the counters' reading of it.
  const assertion = await signAssertion(context.stepUp, account.user.username, challenge);
  const expiresIn = context.stepUp.ttlSeconds;
  context.logger.info('step-up succeeded: assertion issued');

  if (kind === 'form') {
    return sendHtml(response, 200, renderAssertionPage(assertion, STEP_UP_HEADER, expiresIn));
  }
  sendJson(response, 200, { assertion, header: STEP_UP_HEADER, expires_in: expiresIn });
}

// NOTE: an accepted code is not remembered, so it can be used again within its window. The
// demo also hands out codes at /demo/code, so it offers no real second factor.
function verifyTotp(context: DemoContext, account: Account, code: string): boolean {
  if (!/^\d{6}$/.test(code)) {
    return false;
  }

  try {
    return totp.check(code, account.user.totpSecret);
  } catch (error) {
    context.logger.error({ err: error }, 'TOTP check failed');
    return false;
  }
}

/**
 * Signs the step-up assertion. The gateway compares `riskgate_challenge` with the id of the
 * challenge that it issued.
 */
async function signAssertion(
  stepUp: DemoAppOptions['stepUp'],
  subject: string,
  challengeId: string,
): Promise<string> {
  const issuedAt = Math.floor(Date.now() / 1000);

  return new SignJWT({ riskgate_challenge: challengeId })
    .setProtectedHeader({ alg: stepUp.algorithm, typ: 'JWT' })
    .setIssuer(stepUp.issuer)
    .setAudience(stepUp.audience)
    .setSubject(subject)
    .setJti(randomUUID())
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + stepUp.ttlSeconds)
    .sign(stepUp.privateKey);
}

// Demo only: returns the current TOTP code so that the README's curl commands can complete a
// step-up without an authenticator app. A real login app must never expose this.
function handleDemoCode(context: DemoContext, url: URL, response: ServerResponse): void {
  const username = url.searchParams.get('username');
  if (username === null || username === '') {
    throw new HttpError(400, 'missing query parameter "username"');
  }

  const account = context.accounts.get(normalizeUsername(username));
  if (account === undefined) {
    throw new HttpError(404, `unknown demo user "${username}"`);
  }

  const code = totp.generate(account.user.totpSecret);
  sendJson(response, 200, { username: account.user.username, code });
}

async function readBodyFields(request: IncomingMessage): Promise<BodyFields> {
  const mediaType = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (mediaType !== 'application/json' && mediaType !== 'application/x-www-form-urlencoded') {
    throw new HttpError(
      415,
      `unsupported content type "${mediaType}": use application/json or ` +
        'application/x-www-form-urlencoded',
    );
  }

  const text = decodeUtf8(await readBody(request));
  if (mediaType === 'application/x-www-form-urlencoded') {
    return { kind: 'form', fields: Object.fromEntries(new URLSearchParams(text)) };
  }

  return { kind: 'json', fields: parseJsonObject(text) };
}

function parseJsonObject(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'invalid JSON body');
  }

  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new HttpError(400, 'invalid JSON body: expected an object');
  }
  return value as Record<string, unknown>;
}

function decodeUtf8(body: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new HttpError(400, 'invalid body: not UTF-8');
  }
}

function requireStringField(fields: Record<string, unknown>, name: string): string {
  const value = Object.hasOwn(fields, name) ? fields[name] : undefined;
  if (typeof value !== 'string') {
    throw new HttpError(400, `missing or non-string field "${name}"`);
  }
  return value;
}

/**
 * Reads the request body up to MAX_BODY_BYTES and rejects with 413 beyond it. The rest of an
 * oversized body is read and discarded, because destroying the request would also close the
 * socket before the 413 response is written.
 */
function readBody(request: IncomingMessage): Promise<Buffer> {
  const declaredLength = Number(request.headers['content-length']);
  if (declaredLength > MAX_BODY_BYTES) {
    request.resume();
    return Promise.reject(bodyTooLarge());
  }

  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;

    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) {
        chunks.push(chunk);
        return;
      }
      request.off('data', onData);
      request.resume();
      reject(bodyTooLarge());
    };

    request.on('data', onData);
    request.once('end', () => resolve(Buffer.concat(chunks, size)));
    request.once('error', reject);
    request.once('close', () => {
      if (!request.complete) {
        reject(new HttpError(400, 'request body incomplete: the client closed the connection'));
      }
    });
  });
}

function bodyTooLarge(): HttpError {
  return new HttpError(413, `request body exceeds ${MAX_BODY_BYTES} bytes`);
}

function sendError(
  context: DemoContext,
  request: IncomingMessage,
  response: ServerResponse,
  error: unknown,
): void {
  const status = error instanceof HttpError ? error.status : 500;
  const message = error instanceof HttpError ? error.message : 'internal server error';
  // The path only: query strings carry challenge ids and usernames.
  const ids = { method: request.method, path: (request.url ?? '/').split('?')[0], status };
  if (status === 500) {
    context.logger.error({ ...ids, err: error }, 'request failed');
  } else {
    context.logger.info({ ...ids, reason: message }, 'request rejected');
  }

  if (response.headersSent) {
    response.destroy();
    return;
  }

  if (status === 413) {
    response.setHeader('Connection', 'close');
  }
  sendJson(response, status, { ok: false, error: message });
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  response.end(JSON.stringify(body));
}

function sendHtml(response: ServerResponse, status: number, html: string): void {
  response.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
  });
  response.end(html);
}
