import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  importSPKI,
  jwtVerify,
  errors as joseErrors,
  type CryptoKey,
  type JWTVerifyGetKey,
  type KeyObject,
} from 'jose';

import type { StepUpConfig } from '../config/types.js';
import { signHs256 } from '../crypto/hs256.js';
import type { Decision } from '../rules/types.js';

/** Why a step-up assertion was rejected; logged as `riskgate.step_up.reason`. */
export type StepUpFailure =
  | 'malformed'
  | 'algorithm_not_allowed'
  | 'embedded_key'
  | 'signature'
  | 'unknown_key'
  | 'key_unavailable'
  | 'expired'
  | 'not_yet_valid'
  | 'invalid_claim'
  | 'lifetime_too_long'
  | 'issuer'
  | 'audience'
  | 'subject'
  | 'challenge'
  | 'challenge_expired'
  | 'missing_claim'
  | 'replay'
  | 'claim_table_full'
  | 'account_claim_limit'
  | 'store_unavailable'
  | 'issued_before_store_loss'
  | 'not_configured';

export type StepUpResult =
  | {
    ok: true;
    jti: string;
    expiresAt: number;
    /** Earliest time at which the assertion can have been issued, in ms. */
    issuedAt: number;
    /** Time the gateway issued the assertion's challenge, in ms, by the gateway's own clock. */
    challengeIssuedAt: number;
  }
  | { ok: false; reason: StepUpFailure };

type VerificationKey = CryptoKey | KeyObject | JWTVerifyGetKey;

/**
 * Combine the rules' decision with a step-up result. A valid assertion turns a challenge
 * into an allow. In step-up mode a rejected one turns an allow into a challenge, because a
 * client that presents a forged, replayed or foreign assertion must never reach the app on
 * the strength of a login that merely looked harmless.
 */
export function applyStepUp(
  decision: Decision,
  stepUp: StepUpResult | undefined,
  mode: StepUpConfig['mode'],
): Decision {
  if (stepUp === undefined) return decision;
  if (stepUp.ok) return decision === 'challenge' ? 'allow' : decision;
  return decision === 'allow' && mode === 'step-up' ? 'challenge' : decision;
}

// Header parameters that carry or point at a key. A verifier must only use its own
// configured keys, so any token that brings its own is rejected outright.
const EMBEDDED_KEY_PARAMETERS = ['jwk', 'jku', 'x5u', 'x5c', 'x5t', 'x5t#S256'];

/** Longest step-up header value read; a larger one is rejected as malformed. */
const MAX_ASSERTION_LENGTH = 8192;

/**
 * Latest `exp` accepted, counted from now. An MFA step-up assertion is used within
 * minutes of the MFA, and its single-use claim is kept until it expires, so a token that
 * lives longer than this is rejected as `lifetime_too_long`. The demo signs for 120 s.
 */
export const MAX_ASSERTION_LIFETIME_MS = 10 * 60_000;

/** Clock difference allowed with the MFA service, for `exp`, `nbf` and the lifetime bound. */
export const CLOCK_TOLERANCE_SECONDS = 5;

/**
 * Issues challenge ids and checks step-up assertions. A challenge id is a short JWT signed
 * with a key derived from RISKGATE_SECRET, so any gateway sharing the secret can check it
 * without shared state. The assertion is a JWT from the MFA service, checked against the
 * configured public key or JWKS with an allow-list of algorithms.
 */
export class StepUpVerifier {
  /** When onKeyError was last called, so an unreachable JWKS is reported once per KEY_ERROR_INTERVAL_MS. */
  private lastKeyError = Number.NEGATIVE_INFINITY;

  private constructor(
    private readonly config: StepUpConfig,
    private readonly key: VerificationKey | undefined,
    private readonly challengeKey: Uint8Array,
    private readonly clock: () => number,
    private readonly onKeyError: (error: Error) => void,
  ) {}

  /**
   * Build a verifier from config, or from a key given in code (the demo's generated key).
   * `onKeyError` is called when the JWKS URL cannot be fetched, at most once per
   * KEY_ERROR_INTERVAL_MS.
   */
  static async create(
    config: StepUpConfig,
    challengeKey: Uint8Array,
    options: { key?: CryptoKey | KeyObject; clock?: () => number; onKeyError?: (error: Error) => void } = {},
  ): Promise<StepUpVerifier> {
    // In forward mode the app runs its own MFA, so a verification key is optional there.
    const configured = config.publicKeyFile || config.jwksFile || config.jwksUrl;
    const key = options.key ?? (configured || config.mode === 'step-up' ? await loadVerificationKey(config) : undefined);
    return new StepUpVerifier(config, key, challengeKey, options.clock ?? Date.now, options.onKeyError ?? (() => {}));
  }

  private reportKeyError(error: Error): void {
    const now = this.clock();
    if (now - this.lastKeyError < KEY_ERROR_INTERVAL_MS) return;
    this.lastKeyError = now;
    this.onKeyError(error);
  }

  /** Issue a challenge id bound to one account pseudonym, valid for the configured TTL. */
  async issueChallenge(accountPseudonym: string): Promise<string> {
    const now = Math.floor(this.clock() / 1000);
    const jti = randomUUID();
    const claims = { sub: this.binding(accountPseudonym, jti), jti, iat: now, exp: now + Math.ceil(this.config.ttlMs / 1000) };
    return signHs256(claims, this.challengeKey);
  }

  /**
   * Return the keyed digest of an account pseudonym and a challenge's `jti` that binds the
   * challenge to its account. Challenge ids land in URLs and access logs, so a digest of the
   * pseudonym alone would link every challenge of one account to a username anyone could try.
   */
  private binding(accountPseudonym: string, challengeId: string): string {
    return createHmac('sha256', this.challengeKey).update(`account:${accountPseudonym}:${challengeId}`).digest('base64url').slice(0, 32);
  }

  /**
   * Check an assertion for a login of `username` (normalised). The `sub` claim is read with
   * `readSubject`, the gateway's own username normalisation, so an MFA service may sign the
   * name as the user typed it (`José`). Single use is not checked here: the caller claims the
   * returned `jti` in the store in the decision's read.
   */
  async verify(
    assertion: string,
    username: string,
    accountPseudonym: string,
    readSubject: (subject: string) => string | undefined,
  ): Promise<StepUpResult> {
    if (!this.key) {
      return { ok: false, reason: 'not_configured' };
    }
    if (assertion.length > MAX_ASSERTION_LENGTH || assertion.split('.').length !== 3) {
      return { ok: false, reason: 'malformed' };
    }

    let header: Record<string, unknown>;
    try {
      header = decodeProtectedHeader(assertion) as Record<string, unknown>;
    } catch {
      return { ok: false, reason: 'malformed' };
    }
    if (typeof header.alg !== 'string' || !this.config.algorithms.includes(header.alg)) {
      return { ok: false, reason: 'algorithm_not_allowed' };
    }
    if (EMBEDDED_KEY_PARAMETERS.some((name) => name in header)) {
      return { ok: false, reason: 'embedded_key' };
    }

    let payload: Record<string, unknown>;
    try {
      const verified = await jwtVerify(assertion, this.key as never, {
        algorithms: [...this.config.algorithms],
        issuer: this.config.issuer,
        audience: this.config.audience,
        requiredClaims: ['exp', 'sub', 'jti'],
        currentDate: new Date(this.clock()),
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
      });
      payload = verified.payload as Record<string, unknown>;
    } catch (error) {
      if (this.config.jwksUrl && isKeyFetchError(error)) {
        this.reportKeyError(error as Error);
        return { ok: false, reason: 'key_unavailable' };
      }
      return { ok: false, reason: classifyJoseError(error) };
    }

    // RFC 7519 allows a fractional `exp`, and JSON.parse reads an `exp` of 1e400 as
    // Infinity. The negated test also rejects NaN.
    const expiresAt = Number(payload.exp) * 1000;
    const latestExpiry = this.clock() + MAX_ASSERTION_LIFETIME_MS + CLOCK_TOLERANCE_SECONDS * 1000;
    if (!(expiresAt <= latestExpiry)) {
      return { ok: false, reason: 'lifetime_too_long' };
    }

    if (typeof payload.sub !== 'string' || readSubject(payload.sub) !== username) {
      return { ok: false, reason: 'subject' };
    }
    if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > 128) {
      return { ok: false, reason: 'invalid_claim' };
    }
    const challenge = await this.checkChallenge(payload.riskgate_challenge, accountPseudonym);
    if (typeof challenge === 'string') {
      return { ok: false, reason: challenge };
    }

    // An assertion cannot be issued after it is checked. One dated after its check would pass the
    // check for assertions issued before a store lost its data, and be replayed after it.
    const now = this.clock();
    if (payload.iat !== undefined && !(Number(payload.iat) * 1000 <= now + CLOCK_TOLERANCE_SECONDS * 1000)) {
      return { ok: false, reason: 'not_yet_valid' };
    }
    // Without `iat`, use the earliest time at which an accepted assertion can have been issued.
    const issuedAt = typeof payload.iat === 'number' ? Math.min(payload.iat * 1000, now) : expiresAt - MAX_ASSERTION_LIFETIME_MS;
    return { ok: true, jti: payload.jti, expiresAt, issuedAt, challengeIssuedAt: challenge.issuedAt };
  }

  /**
   * Return why the challenge id of an assertion does not hold for the account, or, when it
   * does, the time the challenge was issued.
   */
  private async checkChallenge(
    challenge: unknown,
    accountPseudonym: string,
  ): Promise<'challenge' | 'challenge_expired' | { issuedAt: number }> {
    if (typeof challenge !== 'string' || challenge.length > 1024) {
      return 'challenge';
    }
    try {
      const { payload } = await jwtVerify(challenge, this.challengeKey, {
        algorithms: ['HS256'],
        requiredClaims: ['exp', 'jti', 'sub'],
        currentDate: new Date(this.clock()),
      });
      if (typeof payload.jti !== 'string' || typeof payload.sub !== 'string') return 'challenge';
      const expected = Buffer.from(this.binding(accountPseudonym, payload.jti));
      const subject = Buffer.from(payload.sub);
      if (subject.length !== expected.length || !timingSafeEqual(subject, expected)) return 'challenge';
      // Every challenge this gateway issues has an `iat`, so one without it is not its own.
      return typeof payload.iat === 'number' ? { issuedAt: payload.iat * 1000 } : 'challenge';
    } catch (error) {
      return error instanceof joseErrors.JWTExpired ? 'challenge_expired' : 'challenge';
    }
  }
}

/** Read and import the step-up verification key that the config names; throws an error that names the key and the fix. */
export async function loadVerificationKey(config: StepUpConfig): Promise<VerificationKey> {
  if (config.publicKeyFile) {
    const pem = readKeyFile('challenge.public_key_file', config.publicKeyFile);
    try {
      return await importSPKI(pem, config.algorithms[0]);
    } catch (error) {
      throw new Error(`challenge.public_key_file: ${config.publicKeyFile} is not a PEM public key for ` +
        `${config.algorithms[0]} (${(error as Error).message}); set it to the MFA service's SPKI public key`);
    }
  }
  if (config.jwksFile) {
    const text = readKeyFile('challenge.jwks_file', config.jwksFile);
    try {
      return createLocalJWKSet(JSON.parse(text));
    } catch (error) {
      throw new Error(`challenge.jwks_file: ${config.jwksFile} is not a JSON Web Key Set ` +
        `(${(error as Error).message}); set it to a file of the form {"keys": [...]}`);
    }
  }
  if (config.jwksUrl) {
    return createRemoteJWKSet(new URL(config.jwksUrl), { timeoutDuration: 2000, cooldownDuration: 30_000 });
  }
  throw new Error(
    'challenge mode step-up needs a verification key: set challenge.public_key_file, ' +
      'challenge.jwks_file or challenge.jwks_url (or use challenge.mode: forward)',
  );
}

function readKeyFile(key: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message;
    throw new Error(`${key}: cannot read ${file}: ${reason}; set ${key} to the MFA service's key file`);
  }
}

/** Minimum time between two reports of an unreachable JWKS URL. */
const KEY_ERROR_INTERVAL_MS = 30_000;

/**
 * Return whether an error of jwtVerify comes from fetching the JWKS rather than from the
 * token: a timeout, a set that is not JSON Web Keys, a status other than 200, or a network
 * error, which is no JOSE error at all.
 */
function isKeyFetchError(error: unknown): boolean {
  if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid) return true;
  if (!(error instanceof joseErrors.JOSEError)) return true;
  return error.code === 'ERR_JOSE_GENERIC' && /JSON Web Key Set/i.test(error.message);
}

function classifyJoseError(error: unknown): StepUpFailure {
  if (error instanceof joseErrors.JWTExpired) return 'expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'iss') return 'issuer';
    if (error.claim === 'aud') return 'audience';
    // A claim of the wrong type, such as an `iat` of "x", is malformed rather than expired.
    if (error.reason === 'invalid') return 'invalid_claim';
    if (error.claim === 'nbf') return 'not_yet_valid';
    if (error.claim === 'iat') return 'expired';
    return 'missing_claim';
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'algorithm_not_allowed';
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'signature';
  if (error instanceof joseErrors.JWKSNoMatchingKey) return 'unknown_key';
  return 'malformed';
}
