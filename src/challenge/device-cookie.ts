import { createHmac, randomUUID } from 'node:crypto';

import { signHs256, verifyHs256 } from '../crypto/hs256.js';
import { cookieValues, withoutCookie } from './step-up-cookie.js';

/** Longest cookie value checked; anything longer is treated as no device cookie. */
const MAX_COOKIE_LENGTH = 1024;

/** Most accounts one device cookie vouches for; older ones drop off first. */
const MAX_ACCOUNTS = 10;

/**
 * The account a device cookie is read for: its pseudonym, and its name in the exact reading
 * of usernames (see normalizeUsername). So a look-alike account that counters merge with it
 * (`cárol` beside `carol`) earns no cookie that vouches for it.
 */
export interface CookieAccount {
  pseudonym: string;
  exact: string;
}

/** A valid device cookie: its device id and the accounts it vouches for. */
export interface DeviceCookie {
  id: string;
  /** Keyed digests of the accounts that succeeded with this cookie (see accountBinding). */
  accounts: readonly string[];
  /** True when the cookie vouches for the login's account. */
  bound: boolean;
}

/**
 * The device cookie: an HS256 JWT naming a random device id and the accounts that signed in
 * with it, set after a successful login and read on the next ones. Only a cookie this
 * gateway fleet signed counts, and it makes a device known only to the accounts it names.
 * A cookie earned on one account and planted in another person's browser therefore never
 * vouches for that person's account.
 */
export class DeviceCookies {
  constructor(
    private readonly key: Uint8Array,
    private readonly options: { name: string; maxAgeMs: number; secure: boolean; sameSite: 'lax' | 'strict' | 'none' },
    private readonly clock: () => number = Date.now,
  ) {}

  get name(): string {
    return this.options.name;
  }

  /**
   * Read the device cookie of a Cookie header for a login of `account`: the first valid
   * cookie that vouches for that account, else the first valid one, else undefined.
   */
  async read(cookieHeader: string | undefined, account: CookieAccount | undefined): Promise<DeviceCookie | undefined> {
    const legacy = account === undefined ? undefined : this.legacyBinding(account.pseudonym);
    let first: DeviceCookie | undefined;
    // A page on a sibling subdomain can set a cookie of the same name that the browser sends
    // first, so neither an invalid cookie nor another account's may hide the owner's.
    for (const value of cookieValues(cookieHeader, this.options.name)) {
      if (value.length > MAX_COOKIE_LENGTH) continue;
      const claims = verifyHs256(value, this.key, { now: Math.floor(this.clock() / 1000), required: ['sub'] });
      if (typeof claims?.sub !== 'string') continue;
      const accounts = Array.isArray(claims.acc) ? claims.acc.filter((entry): entry is string => typeof entry === 'string') : [];
      const bound = account !== undefined && legacy !== undefined &&
        (accounts.includes(this.accountBinding(claims.sub, account)) || accounts.includes(legacy));
      if (bound) return { id: claims.sub, accounts, bound };
      first ??= { id: claims.sub, accounts, bound };
    }
    return first;
  }

  /**
   * Return a Cookie header without the device cookie, for the app. The cookie is a bearer
   * token that only riskgate reads, so the app's logs and error reports need no copy of it.
   * Returns the header unchanged when it has no device cookie, or undefined when no other
   * cookie is left.
   */
  withoutDeviceCookie(cookieHeader: string | undefined): string | undefined {
    return withoutCookie(cookieHeader, this.options.name);
  }

  /**
   * Build the Set-Cookie value after a success of `account`: the device `deviceId` (a new
   * one when undefined), vouching for that account and for up to nine of the others it named.
   */
  async issue(deviceId: string | undefined, accounts: readonly string[], account: CookieAccount | undefined): Promise<string> {
    const id = deviceId ?? randomUUID();
    const binding = account === undefined ? undefined : this.accountBinding(id, account);
    const legacy = account === undefined ? undefined : this.legacyBinding(account.pseudonym);
    const others = accounts.filter((entry) => entry !== binding && entry !== legacy);
    const vouched = (binding === undefined ? others : [...others, binding]).slice(-MAX_ACCOUNTS);
    const now = Math.floor(this.clock() / 1000);
    const maxAge = Math.floor(this.options.maxAgeMs / 1000);
    const token = signHs256({ sub: id, acc: vouched, iat: now, exp: now + maxAge }, this.key);
    const secure = this.options.secure ? '; Secure' : '';
    return `${this.options.name}=${token}; Max-Age=${maxAge}; Path=/; HttpOnly; SameSite=${SAME_SITE[this.options.sameSite]}${secure}`;
  }

  /**
   * Derive the short keyed digest that names an account in the cookie of one device. The
   * cookie is readable by the client, so it carries neither the username nor the log's
   * pseudonym, and the digest differs on each device, so two devices' cookies cannot be
   * linked to one account.
   */
  private accountBinding(deviceId: string, account: CookieAccount): string {
    return createHmac('sha256', this.key)
      .update(`device-account:${deviceId}:${account.pseudonym}:${account.exact}`)
      .digest('base64url').slice(0, 16);
  }

  /**
   * Derive the digest that older cookies carry, without the device id or the exact name, so
   * the same on every device. It is still read, and replaced at the account's next success.
   */
  private legacyBinding(pseudonym: string): string {
    return createHmac('sha256', this.key).update(`device-account:${pseudonym}`).digest('base64url').slice(0, 16);
  }
}

/** The SameSite attribute's value for each `device_cookie.same_site` setting. */
const SAME_SITE = { lax: 'Lax', strict: 'Strict', none: 'None' } as const;

