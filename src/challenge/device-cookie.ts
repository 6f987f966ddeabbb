import { randomUUID } from 'node:crypto';

import { signHs256, verifyHs256 } from '../crypto/hs256.js';

/** Longest cookie value checked; anything longer is treated as no device cookie. */
const MAX_COOKIE_LENGTH = 1024;

/**
 * The device cookie: an HS256 JWT naming a random device id, set after a successful login
 * and read on the next ones. Only a cookie this gateway fleet signed counts as a known device.
 */
export class DeviceCookies {
  constructor(
    private readonly key: Uint8Array,
    private readonly options: { name: string; maxAgeMs: number; secure: boolean },
    private readonly clock: () => number = Date.now,
  ) {}

  get name(): string {
    return this.options.name;
  }

  /** Return the device id of a valid cookie in a Cookie header, or undefined. */
  async read(cookieHeader: string | undefined): Promise<string | undefined> {
    // A page on a sibling subdomain can set a cookie of the same name that the browser sends
    // first, so an invalid one must not hide the valid one after it.
    for (const value of cookieValues(cookieHeader, this.options.name).slice(0, MAX_COOKIES_READ)) {
      if (value.length > MAX_COOKIE_LENGTH) continue;
      const claims = verifyHs256(value, this.key, { now: Math.floor(this.clock() / 1000), required: ['sub'] });
      if (typeof claims?.sub === 'string') return claims.sub;
    }
    return undefined;
  }

  /** Build the Set-Cookie value for a device (a new one when `deviceId` is undefined). */
  async issue(deviceId: string | undefined): Promise<string> {
    const now = Math.floor(this.clock() / 1000);
    const maxAge = Math.floor(this.options.maxAgeMs / 1000);
    const token = signHs256({ sub: deviceId ?? randomUUID(), iat: now, exp: now + maxAge }, this.key);
    const secure = this.options.secure ? '; Secure' : '';
    return `${this.options.name}=${token}; Max-Age=${maxAge}; Path=/; HttpOnly; SameSite=Lax${secure}`;
  }
}

/** Maximum device cookies checked per request, since each check computes an HMAC. */
const MAX_COOKIES_READ = 4;

function cookieValues(header: string | undefined, name: string): string[] {
  if (!header) return [];
  const values: string[] = [];
  for (const part of header.split(';')) {
    const separator = part.indexOf('=');
    if (separator !== -1 && part.slice(0, separator).trim() === name) values.push(part.slice(separator + 1).trim());
  }
  return values;
}
