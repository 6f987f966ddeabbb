import type { UsernameNormalization } from '../request/username.js';
import type { HostPort, RedisTls } from '../store/redis-client.js';

export type StoreFailMode = 'open' | 'closed';
export type GatewayMode = 'enforce' | 'monitor';

/** One login endpoint; every route shares one account's counters and history. */
export interface LoginRoute {
  id: string;
  method: string;
  /** Normalised path (see request/path.ts) that requests are matched against. */
  path: string;
  body: 'json' | 'form' | 'auto';
  /**
   * Charset the app reads a form body in when its Content-Type names none, as browsers
   * send it. A Tomcat web app that sets no request encoding reads ISO-8859-1; Jetty 9.4 and
   * a Tomcat whose `conf/web.xml` sets UTF-8 read UTF-8.
   */
  formCharset: 'utf-8' | 'iso-8859-1';
  usernameField: string;
  /** The body field that carries the password; riskgate reads only whether it is filled, and refuses it where no login is judged. */
  passwordField: string;
  /**
   * True: a 2xx to a login that does not fill `passwordField` teaches nothing, since it proves
   * nothing about a password (a reset request below the login path, the username step of an
   * identifier-first login). False, for routes whose logins carry no password (passkeys,
   * one-time codes): any success counts.
   */
  requirePassword: boolean;
  /**
   * Fields that must hold one of the listed values (`''` for absent), in the query or the
   * body, for a success to count: WordPress's wp-login.php runs other actions than the
   * login by `action`, so `{ action: ['', 'login'] }` keeps their redirects from counting.
   */
  successFields: Readonly<Record<string, readonly string[]>>;
  onStoreError: StoreFailMode;
  /**
   * Status codes (`302`) or classes (`2xx`) that mean the login succeeded; an entry with
   * `!` (`!429`) excludes a code or class.
   */
  successStatus: readonly string[];
  /**
   * True when the route leaves `success_status` at its default. A 2xx HTML page then counts
   * as no success, since apps that re-render their login form after a wrong password send one.
   */
  successStatusDefault: boolean;
  /** Status codes or classes that mean the credentials were rejected, in the same form. */
  failureStatus: readonly string[];
  /** Normalised paths that a redirect's Location names when the login succeeded, such as `/home`. */
  successLocation: readonly string[];
  /** Normalised paths that a redirect's Location names when the login failed, such as `/login`. */
  failureLocation: readonly string[];
  /**
   * `judge`: requests by the route's method to paths below its path (`/login/x`) are judged
   * as this route's logins, as PATH_INFO, prefix mounts and optional route parameters hand
   * them to the login handler. `forward`: they are forwarded as other paths are.
   */
  subpaths: 'judge' | 'forward';
  /**
   * True for an app that checks this login's fields on any page, such as Drupal 7's login
   * block, TYPO3's felogin or WooCommerce's login form. A form posted to another path that
   * sends the password field is then judged as this route's login (see judgeFormElsewhere).
   */
  anyPath: boolean;
  /**
   * True for an app that runs this login at any path ending in its path, as Spring Security
   * before 4.0 does with its `filterProcessesUrl` (`/x/login` for `/login`).
   */
  suffixMatch: boolean;
  /**
   * True for an identifier-first login, whose password step names no account because the
   * app keeps it in its session. Without it, a password with no username at another path
   * than the route's gets 400, since the app may read the account from the path.
   */
  identifierFirst: boolean;
  /**
   * `refuse`: a login a browser marks `Sec-Fetch-Site: cross-site` gets 403 before anything
   * is counted, so a page on another site cannot make its visitors' browsers send guesses
   * that block their own address. `same-origin`: a login from a page on another origin of
   * the same site (`Sec-Fetch-Site: same-site`, a sibling subdomain) gets 403 too. `judge`:
   * such logins are judged as others are.
   */
  crossSite: 'refuse' | 'same-origin' | 'judge';
  /**
   * Origins of login clients on other origins (`https://app.example.com`), whose requests
   * get CORS headers on riskgate's own responses, so that they can read a challenge.
   */
  corsOrigins: readonly string[];
}

export interface StepUpConfig {
  mode: 'step-up' | 'forward';
  mfaUrl: string;
  header: string;
  /**
   * Cookie that also carries an assertion, for a form login, which cannot send a header: the
   * MFA page sets it and the user posts the form again. riskgate removes it before the app.
   */
  cookie: string;
  ttlMs: number;
  issuer: string;
  audience: string;
  algorithms: readonly string[];
  publicKeyFile?: string;
  jwksFile?: string;
  jwksUrl?: string;
}

/** Receiver of block decisions (or others) as JSON documents, sent off the login path. */
export interface WebhookConfig {
  url: URL;
  decisions: readonly ('allow' | 'challenge' | 'block')[];
  /** Time allowed for one delivery attempt. */
  timeoutMs: number;
  /** Attempts per document, the first included. */
  maxAttempts: number;
  /** Maximum documents waiting for delivery. When the queue is full, the oldest is dropped. */
  queueSize: number;
  /** Bearer token from RISKGATE_WEBHOOK_TOKEN. */
  token?: string;
}

/** The validated, frozen configuration that every module reads. */
export interface GatewayConfig {
  /** File the config was read from, or `<embedded>` for the demo defaults. */
  source: string;
  listen: { host: string; port: number };
  upstream: URL;
  trustedProxies: readonly string[];
  /** The site's own NAT64 prefixes, whose addresses stand for IPv4 clients (RFC 6052). */
  nat64Prefixes: readonly string[];
  /** `pass` forwards a trusted proxy's X-Forwarded-Prefix, `drop` removes it from every request. */
  forwardedPrefix: 'drop' | 'pass';
  /**
   * Host names the site's logins are served at (`*.example.com` for one label). Empty for
   * any host. A login at another host gets 421 and counts nothing.
   */
  hosts: readonly string[];
  mode: GatewayMode;
  store: {
    url: string;
    keyPrefix: string;
    timeoutMs: number;
    memoryMaxEntries: number;
    /** Redis Cluster seed nodes; the rest are discovered. */
    cluster?: readonly HostPort[];
    sentinels?: readonly HostPort[];
    sentinelName?: string;
    tls?: RedisTls;
  };
  /** Account profiles: how long login history is kept, and how much of it. */
  profile: { retentionMs: number; maxValuesPerFeature: number; maxSpeedKmh: number };
  /** MaxMind databases, absolute paths; geoip-lite answers without them. */
  geo: { maxmindCity?: string; maxmindAsn?: string };
  /** IP list files by name, absolute paths, laid over the lists that rule files name. */
  ipLists: Readonly<Record<string, string>>;
  loginRoutes: readonly LoginRoute[];
  username: UsernameNormalization;
  rulePaths: readonly string[];
  /** Hot reload on file changes: whether to watch the rule, IP list and config files, and how long edits settle first. */
  reload: { watch: boolean; debounceMs: number };
  bodyLimitBytes: number;
  challenge: StepUpConfig;
  block: { status: 403 | 429; retryAfterMs: number };
  deviceCookie: {
    name: string;
    maxAgeMs: number;
    secure: boolean;
    /** The cookie's SameSite attribute: `none` lets login clients on other sites present it. */
    sameSite: 'lax' | 'strict' | 'none';
  };
  upstreamTimeouts: { connectMs: number; responseMs: number; sendMs: number };
  /** The operator listener: health probes, Prometheus metrics and the admin API. */
  /** `hosts`: names besides address literals and localhost that the listener serves in Host. */
  admin: { listen: { host: string; port: number }; token?: string; hosts: string[] };
  webhook?: WebhookConfig;
  log: {
    level: string;
    username: 'pseudonymise' | 'plain' | 'omit';
    destination: string;
  };
  secret: string;
}
