import { randomUUID } from 'node:crypto';

import { SignJWT, jwtVerify } from 'jose';

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
    const value = cookieValue(cookieHeader, this.options.name);
    if (!value || value.length > MAX_COOKIE_LENGTH) {
      return undefined;
    }
    try {
      const { payload } = await jwtVerify(value, this.key, {
        algorithms: ['HS256'],
        requiredClaims: ['sub', 'exp'],
        currentDate: new Date(this.clock()),
      });
      return typeof payload.sub === 'string' ? payload.sub : undefined;
    } catch {
      return undefined;
    }
  }

  /** Build the Set-Cookie value for a device (a new one when `deviceId` is undefined). */
  async issue(deviceId: string | undefined): Promise<string> {
    const now = Math.floor(this.clock() / 1000);
    const maxAge = Math.floor(this.options.maxAgeMs / 1000);
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(deviceId ?? randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(now + maxAge)
      .sign(this.key);
    const secure = this.options.secure ? '; Secure' : '';
    return `${this.options.name}=${token}; Max-Age=${maxAge}; Path=/; HttpOnly; SameSite=Lax${secure}`;
  }
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const separator = part.indexOf('=');
    if (separator !== -1 && part.slice(0, separator).trim() === name) {
      return part.slice(separator + 1).trim();
    }
  }
  return undefined;
}
