/** Every default of riskgate.yaml, in the file's own shape; the README's table mirrors this. */
export const CONFIG_DEFAULTS = {
  listen: '127.0.0.1:8080',
  trusted_proxies: [] as string[],
  forwarded_prefix: 'drop' as 'drop' | 'pass',
  mode: 'enforce',
  store: {
    url: 'memory',
    key_prefix: 'rg',
    timeout: '50ms',
    memory_max_entries: 200_000,
  },
  login_route: {
    method: 'POST',
    body: 'auto',
    username_field: 'username',
    on_store_error: 'open',
    // A redirect is no success by status alone: where an app redirects can depend on the
    // request (Referer, previous page), so redirects count only through success_location.
    success_status: ['2xx'],
    // Apps reject a wrong password with many 4xx codes (400 for OAuth's invalid_grant, 401,
    // 403, 422 for Laravel's JSON validation). The excluded codes mean the app turned the
    // request away before it checked the credentials. They are 405 (method), 408 (timeout),
    // 413, 414 and 431 (too large), 415 (body type), 419 (Laravel's expired CSRF token)
    // and 429 (the app's own rate limit).
    failure_status: ['4xx', '!405', '!408', '!413', '!414', '!415', '!419', '!429', '!431'],
  },
  username: { case: 'fold', trim: true, nfkc: true, accents: 'fold', markup: 'refuse' },
  rules: ['rules'],
  reload: { watch: true, debounce: '250ms' },
  body_limit_bytes: 65_536,
  challenge: {
    mode: 'step-up',
    mfa_url: '/mfa',
    header: 'Riskgate-Step-Up',
    // The cookie defaults to __Host-rg_step_up with a Secure device cookie (stepUpCookieName).
    ttl: '5m',
    issuer: 'riskgate-demo-mfa',
    audience: 'riskgate',
    algorithms: ['ES256'],
  },
  block: { status: 403, retry_after: '15m' },
  // The name defaults to __Host-rg_device with secure, and rg_device without (deviceCookieName).
  device_cookie: { max_age: '180d', secure: true, same_site: 'lax' },
  upstream_timeouts: { connect: '5s', response: '30s', send: '60s' },
  log: { level: 'info', username: 'pseudonymise', destination: 'stdout' },
  profile: { retention: '90d', max_values_per_feature: 16, max_speed_kmh: 1000 },
  // The admin API stays off until a token is set (admin.token or RISKGATE_ADMIN_TOKEN).
  admin: { listen: '127.0.0.1:9090' },
  // Used only when webhook.url is set.
  webhook: { decisions: ['block'], timeout: '2s', max_attempts: 5, queue_size: 1000 },
} as const;

/** Shortest admin token accepted, as for RISKGATE_SECRET. */
export const MIN_ADMIN_TOKEN_LENGTH = 32;

/** Shortest RISKGATE_SECRET accepted: 32 characters, about 190 bits as random base64. */
export const MIN_SECRET_LENGTH = 32;

/**
 * Choose the device cookie's name when the config gives none. A `__Host-` cookie is stored
 * by browsers only when it is Secure, has Path=/ and no Domain, so a page on a sibling
 * subdomain cannot set one that the login page would receive beside the owner's.
 */
export function deviceCookieName(name: string | undefined, secure: boolean): string {
  return name ?? (secure ? '__Host-rg_device' : 'rg_device');
}

/**
 * Choose the step-up cookie's name when the config gives none, by the same rule. A page on
 * a sibling subdomain cannot set a `__Host-` cookie, so it cannot plant one that the
 * browser would send before the MFA page's.
 */
export function stepUpCookieName(name: string | undefined, secure: boolean): string {
  return name ?? (secure ? '__Host-rg_step_up' : 'rg_step_up');
}
