import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import t from 'tap';

import { PROJECT_ROOT } from '../helpers/gateway.js';
import { loadConfigFile, loadConfigObject } from '../../src/config/load.js';
import { RiskgateError } from '../../src/errors.js';

const SECRET = 'config-test-secret-0123456789abcdef0123';

const directory = mkdtempSync(join(tmpdir(), 'riskgate-config-'));
t.teardown(() => rmSync(directory, { recursive: true, force: true }));

/** Forward mode needs no MFA key, so tests of other keys can load without one. */
const FORWARD_MODE = 'challenge: { mode: forward }';

let files = 0;
/** Write a config file exactly; the lines are joined with newlines so tests can count them. */
function bareConfigFile(...lines: string[]): string {
  files += 1;
  const file = join(directory, `config-${files}.yaml`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** Write a config file, with FORWARD_MODE appended after the lines when none sets `challenge`. */
function configFile(...lines: string[]): string {
  const setsChallenge = lines.some((line) => line.startsWith('challenge:'));
  return bareConfigFile(...lines, ...(setsChallenge ? [] : [FORWARD_MODE]));
}

/** Load a file expected to be invalid and return the error; a null secret passes none. */
function loadError(file: string, env: NodeJS.ProcessEnv = {}, secret: string | null = SECRET): RiskgateError {
  try {
    loadConfigFile(file, { env, secret: secret ?? undefined });
  } catch (error) {
    if (error instanceof RiskgateError) return error;
    throw error;
  }
  throw new Error(`${file} loaded although it was expected to be invalid`);
}

t.test('minimal file gets the defaults', async (t) => {
  const file = configFile('upstream: http://127.0.0.1:3000', 'challenge: { public_key_file: mfa-public.pem }');
  const config = loadConfigFile(file, { env: {}, secret: SECRET });

  t.same(config.listen, { host: '127.0.0.1', port: 8080 });
  t.equal(config.upstream.href, 'http://127.0.0.1:3000/');
  t.equal(config.store.url, 'memory');
  t.equal(config.store.timeoutMs, 50);
  t.same(config.trustedProxies, []);
  t.equal(config.loginRoutes.length, 1);
  t.equal(config.loginRoutes[0].path, '/login');
  t.same(config.rulePaths, [join(directory, 'rules')], 'rule paths are relative to the config file');
  t.equal(config.challenge.mode, 'step-up');
  t.equal(config.challenge.publicKeyFile, join(directory, 'mfa-public.pem'), 'key files are relative to the config file');
  t.equal(config.challenge.ttlMs, 300_000);
  t.equal(config.deviceCookie.secure, true);
  t.equal(config.log.username, 'pseudonymise');
  t.same(config.reload, { watch: true, debounceMs: 250 });
  t.ok(Object.isFrozen(config), 'the config is frozen');
});

t.test('example config is valid', async (t) => {
  const config = loadConfigFile(resolve(PROJECT_ROOT, 'riskgate.example.yaml'), { env: {}, secret: SECRET });

  t.equal(config.loginRoutes[0].id, 'web');
  t.same(config.rulePaths, [resolve(PROJECT_ROOT, 'rules')]);
  t.equal(config.deviceCookie.name, '__Host-rg_device', 'the device cookie keeps the __Host- prefix');
});

t.test('unknown key names its line and the fix', async (t) => {
  const error = loadError(configFile('upstream: http://127.0.0.1:3000', 'lisen: 127.0.0.1:9090'));

  t.equal(error.code, 'RG_ERR_CONFIG_INVALID');
  t.equal(error.problems.length, 1);
  t.match(error.message, /config-\d+\.yaml:2:1: unknown key "lisen" in the top level: remove it or check its spelling/);
});

t.test('unknown key with a nested value points at the key', async (t) => {
  const file = configFile('upstream: http://127.0.0.1:3000', 'store:', '  url: memory', '  timout: 50ms', 'stor:', '  url: memory');
  const error = loadError(file);

  const nested = error.problems.find((problem) => problem.message.includes('"timout"'))!;
  const top = error.problems.find((problem) => problem.message.includes('"stor"'))!;
  t.same([nested.line, nested.column], [4, 3], 'store.timout is on line 4');
  t.match(nested.message, /unknown key "timout" in store/);
  t.same([top.line, top.column], [5, 1], 'stor is on line 5, not on its value below');
});

t.test('bad duration names the key and the form', async (t) => {
  const error = loadError(configFile('upstream: http://127.0.0.1:3000', 'store:', '  timeout: 5 minutes'));

  t.equal(error.problems.length, 1);
  t.match(error.message, /:3:12: store\.timeout has an invalid format \(use a duration such as 50ms, 30s, 10m or 1h\)/);
});

t.test('reload keys are checked', async (t) => {
  const file = configFile('upstream: http://127.0.0.1:3000', 'challenge: { mode: forward }', 'reload:', '  watch: yes please', '  debounce: 5m');
  const messages = loadError(file).problems.map((problem) => `${problem.line}:${problem.column}: ${problem.message}`);

  t.same(messages, [
    '4:10: reload.watch must be boolean, got "yes please"',
    '5:13: reload.debounce "5m" is longer than the 1m maximum; use a value such as 250ms, or set reload.watch: false and send SIGHUP',
  ]);
});

t.test('bad upstream names the accepted form', async (t) => {
  const wrongScheme = loadError(configFile('upstream: ftp://app.internal'));
  const notUrl = loadError(configFile('upstream: "http://exa mple"'));

  t.equal(wrongScheme.problems.length, 1, 'one problem, not one per check');
  t.match(wrongScheme.message, /:1:11: upstream has an invalid format \(use an http:\/\/ or https:\/\/ URL\)/);
  t.equal(notUrl.problems.length, 1);
  t.match(notUrl.message, /:1:11: upstream "http:\/\/exa mple" is not a valid URL: use the app URL, for example http:\/\/127\.0\.0\.1:3000/);
});

t.test('missing upstream says how to set it', async (t) => {
  const error = loadError(configFile('listen: 127.0.0.1:8080'));

  t.match(error.message, /upstream is missing: set it to the app URL, for example http:\/\/127\.0\.0\.1:3000, or export RISKGATE_UPSTREAM/);
});

t.test('bad trusted proxy CIDR names the entry', async (t) => {
  const error = loadError(configFile('upstream: http://127.0.0.1:3000', 'trusted_proxies:', '  - 10.0.0.0/8', '  - 10.0.0.0/33'));

  t.equal(error.problems.length, 1);
  t.match(error.message, /:4:5: trusted_proxies entry "10\.0\.0\.0\/33" is not an IP address or CIDR such as 10\.0\.0\.0\/8/);
});

t.test('bad NAT64 prefixes name the entry and the fix', async (t) => {
  const error = loadError(configFile('upstream: http://127.0.0.1:3000', 'nat64_prefixes:', '  - 2001:db8:46::/96',
    '  - 2001:db8:46::/80', '  - 10.0.0.0/8', '  - 2001:db8:46::1/96', '  - nat64'));

  t.equal(error.problems.length, 4);
  t.match(error.message, /:4:5: nat64_prefixes entry "2001:db8:46::\/80" has length \/80, but RFC 6052 prefixes are \/32, \/40, \/48, \/56, \/64, \/96/);
  t.match(error.message, /:5:5: nat64_prefixes entry "10\.0\.0\.0\/8" is not an IPv6 prefix/);
  t.match(error.message, /:6:5: nat64_prefixes entry "2001:db8:46::1\/96" has bits set past \/96: give the network address, 2001:db8:46::\/96/);
  t.match(error.message, /:7:5: nat64_prefixes entry "nat64" is not a CIDR/);
});

t.test('a host username scope needs its hosts', async (t) => {
  const error = loadError(configFile('upstream: http://127.0.0.1:3000', 'username:', '  scope: host'));

  t.equal(error.problems.length, 1);
  t.match(error.message, /username\.scope is host, but username\.hosts lists no host/);
});

t.test('any_path needs a form route by POST', async (t) => {
  const error = loadError(configFile('upstream: http://127.0.0.1:3000', 'login_routes:', '  - { path: /login, body: json, any_path: true }'));

  t.equal(error.problems.length, 1);
  t.match(error.message, /login route "POST \/login" has any_path, .* it needs method POST and body form or auto/);
});

t.test('every problem is reported at once', async (t) => {
  const file = configFile(
    'upstream: ftp://app.internal',
    'lisen: 127.0.0.1:9090',
    'trusted_proxies: [192.168.1.300]',
    'store:',
    '  timeout: soon',
    'log:',
    '  level: chatty',
  );
  const error = loadError(file);

  t.equal(error.problems.length, 5);
  t.match(error.message, /^5 problem\(s\) found:\n/);
  const lines = error.message.split('\n').slice(1);
  t.equal(lines.length, 5, 'one line per problem');
  for (const line of lines) t.match(line, /^\/.+\.yaml:\d+:\d+: /, `located: ${line}`);
  t.match(error.message, /upstream has an invalid format/);
  t.match(error.message, /unknown key "lisen"/);
  t.match(error.message, /trusted_proxies entry "192\.168\.1\.300"/);
  t.match(error.message, /store\.timeout has an invalid format/);
  t.match(error.message, /log\.level must be one of "fatal", "error", "warn", "info", "debug", "trace", "silent"/);
});

t.test('invalid YAML is located', async (t) => {
  const error = loadError(configFile('upstream: http://127.0.0.1:3000', 'store:', '  url: [memory'));

  t.equal(error.code, 'RG_ERR_CONFIG_INVALID');
  t.match(error.message, /config-\d+\.yaml:\d+:\d+: invalid YAML: /);
});

t.test('duplicate login route is refused', async (t) => {
  const error = loadError(configFile('upstream: http://127.0.0.1:3000', 'login_routes:', '  - path: /login', '  - path: /login'));

  t.match(error.message, /:4:5: login route "POST \/login" is listed twice/);
});

t.test('routes read as one path are refused', async (t) => {
  const error = loadError(configFile('upstream: http://127.0.0.1:3000', 'login_routes:', '  - path: /api/v1/Login', '  - path: /api/version1/login'));

  t.match(error.message, /:4:5: login route "POST \/api\/version1\/login" reads as the same path as "POST \/api\/v1\/Login" \(\/api\/v1\/login\)/);
  t.match(error.message, /keep one entry for both/);
});

t.test('route outcome defaults', async (t) => {
  const config = loadConfigFile(configFile('upstream: http://127.0.0.1:3000'), { env: {}, secret: SECRET });
  const route = config.loginRoutes[0];

  t.same(route.successStatus, ['2xx'], 'a redirect is no success by status alone');
  t.same(route.failureStatus, ['4xx', '!405', '!408', '!413', '!414', '!415', '!419', '!429', '!431']);
  t.same(route.successLocation, []);
  t.same(route.failureLocation, []);
});

t.test('status exclusions and success locations load', async (t) => {
  const file = configFile(
    'upstream: http://127.0.0.1:3000',
    'login_routes:',
    '  - path: /login',
    '    failure_status: [4xx, "!429"]',
    '    success_location: [/Home/, /app//Dashboard/]',
    '    failure_location: [/login]',
  );
  const route = loadConfigFile(file, { env: {}, secret: SECRET }).loginRoutes[0];

  t.same(route.failureStatus, ['4xx', '!429']);
  t.same(route.successLocation, ['/home', '/app/dashboard'], 'locations are normalised as login paths are');
});

t.test('status list of exclusions alone is refused', async (t) => {
  const error = loadError(configFile(
    'upstream: http://127.0.0.1:3000',
    'login_routes:',
    '  - path: /login',
    '    failure_status: ["!429"]',
  ));

  t.match(error.message, /:4:21: login_routes\[0\]\.failure_status \["!429"\] lists only exclusions; add the codes or classes to count, such as 4xx/);
});

t.test('an unreadable login path or a method without a body is refused at load', async (t) => {
  const error = loadError(configFile(
    'upstream: http://127.0.0.1:3000',
    'login_routes:',
    '  - path: /api/../login',
    '  - path: //login',
    '    id: two',
    '  - path: /login',
    '    method: GET',
  ));

  t.match(error.message, /:3:11: login_routes\[0\]\.path "\/api\/\.\.\/login" is not a path riskgate can read: the path has a dot segment/);
  t.match(error.message, /:4:11: login_routes\[1\]\.path "\/\/login" is not a path riskgate can read: the path starts with "\/\/"/);
  t.match(error.message, /:7:13: login_routes\[2\]\.method GET sends no body, and riskgate reads the username from the body; set the method the login form posts with, such as POST/);
});

t.test('unquoted status exclusion says to quote it', async (t) => {
  const error = loadError(configFile(
    'upstream: http://127.0.0.1:3000',
    'login_routes:',
    '  - path: /login',
    '    failure_status: [4xx, !429]',
  ));

  t.match(error.message, /:4:27: invalid YAML: Unresolved tag: !429; quote a value that starts with "!", such as "!429"/);
});

t.test('login path as success location is refused', async (t) => {
  const error = loadError(configFile(
    'upstream: http://127.0.0.1:3000',
    'login_routes:',
    '  - path: /login',
    '    success_location: [/home, /LOGIN/]',
  ));

  t.match(error.message, /:4:31: login_routes\[0\]\.success_location names the login path \/login, .*; remove it, or list it under failure_location/);
});

t.test('path under both locations is refused', async (t) => {
  const error = loadError(configFile(
    'upstream: http://127.0.0.1:3000',
    'login_routes:',
    '  - path: /login',
    '    success_location: [/home]',
    '    failure_location: [/Home]',
  ));

  t.match(error.message, /:4:24: login_routes\[0\] lists \/home under both success_location and failure_location; keep it in one/);
});

t.test('invalid status entry names the forms', async (t) => {
  const error = loadError(configFile(
    'upstream: http://127.0.0.1:3000',
    'login_routes:',
    '  - path: /login',
    '    failure_status: ["4xx", "not-429"]',
  ));

  t.match(error.message, /:4:29: login_routes\.0\.failure_status\.1 has an invalid format \(use a quoted status code such as "302", a class such as 2xx, or "!429" to exclude one\), got "not-429"/);
});

t.test('missing config file says how to name one', async (t) => {
  const error = loadError(join(directory, 'absent.yaml'));

  t.equal(error.code, 'RG_ERR_CONFIG_NOT_FOUND');
  t.match(error.message, /config file not found: .*absent\.yaml; pass --config FILE or set RISKGATE_CONFIG/);
});

t.test('environment overrides apply', async (t) => {
  const file = configFile(
    'listen: 127.0.0.1:8080',
    'upstream: http://127.0.0.1:3000',
    'trusted_proxies: [10.0.0.0/8]',
    'store:',
    '  url: memory',
  );
  const config = loadConfigFile(file, {
    secret: SECRET,
    env: {
      RISKGATE_LISTEN: '0.0.0.0:9999',
      RISKGATE_UPSTREAM: 'https://app.internal:8443',
      REDIS_URL: 'redis://127.0.0.1:6379/2',
      RISKGATE_TRUSTED_PROXIES: '192.168.0.0/16, 2001:db8::/32 ,,',
      RISKGATE_LOG_LEVEL: 'debug',
    },
  });

  t.same(config.listen, { host: '0.0.0.0', port: 9999 }, 'RISKGATE_LISTEN');
  t.equal(config.upstream.href, 'https://app.internal:8443/', 'RISKGATE_UPSTREAM');
  t.equal(config.store.url, 'redis://127.0.0.1:6379/2', 'REDIS_URL');
  t.same(config.trustedProxies, ['192.168.0.0/16', '2001:db8::/32'], 'RISKGATE_TRUSTED_PROXIES, split and trimmed');
  t.equal(config.log.level, 'debug', 'RISKGATE_LOG_LEVEL');
});

t.test('empty RISKGATE_TRUSTED_PROXIES clears the list', async (t) => {
  const file = configFile('upstream: http://127.0.0.1:3000', 'trusted_proxies: [10.0.0.0/8]');
  const config = loadConfigFile(file, { secret: SECRET, env: { RISKGATE_TRUSTED_PROXIES: '' } });

  t.same(config.trustedProxies, []);
});

t.test('invalid environment values name the variable', async (t) => {
  const file = configFile('upstream: http://127.0.0.1:3000');
  const error = loadError(file, {
    RISKGATE_LISTEN: '8080',
    RISKGATE_UPSTREAM: 'app.internal',
    REDIS_URL: 'http://127.0.0.1:6379',
    RISKGATE_TRUSTED_PROXIES: '10.0.0.0/8,bogus',
    RISKGATE_LOG_LEVEL: 'verbose',
  });

  t.equal(error.problems.length, 5);
  t.match(error.message, /RISKGATE_LISTEN "8080" is invalid: listen has an invalid format \(use host:port such as 127\.0\.0\.1:8080\)/);
  t.match(error.message, /RISKGATE_UPSTREAM "app\.internal" is invalid: upstream has an invalid format/);
  t.match(error.message, /REDIS_URL "http:\/\/127\.0\.0\.1:6379" is invalid: store\.url has an invalid format \(use memory, redis:\/\/host:6379/);
  t.match(error.message, /RISKGATE_TRUSTED_PROXIES entry "bogus" is not an IP address or CIDR/);
  t.match(error.message, /RISKGATE_LOG_LEVEL "verbose" is invalid: log\.level must be one of/);
  for (const line of error.message.split('\n').slice(1)) {
    t.match(line, /^environment: /, 'a value from the environment points at no line of the file');
  }
});

t.test('admin values from the environment name the variable', async (t) => {
  const file = configFile('upstream: http://127.0.0.1:3000', 'admin:', '  listen: 127.0.0.1:9090');
  const error = loadError(file, { RISKGATE_ADMIN_TOKEN: 'short-token', RISKGATE_ADMIN_LISTEN: 'nine' });

  t.match(error.message, /environment: RISKGATE_ADMIN_LISTEN: admin\.listen "nine" is not host:port/);
  const token = loadError(file, { RISKGATE_ADMIN_TOKEN: 'short-token' });
  t.match(token.message, /environment: RISKGATE_ADMIN_TOKEN: the admin token is too short \(11 characters\)/);
  t.notMatch(token.message, /short-token/, 'the token is not quoted');
  t.notMatch(token.message, /:3:\d+:/, 'no file line is named');
});

t.test('jwks_url with credentials is rejected', async (t) => {
  const file = configFile('upstream: http://127.0.0.1:3000', 'challenge:', '  jwks_url: https://mfa-user:mfa-password@mfa.example.com/jwks');
  const error = loadError(file, {});
  t.match(error.message, /:3:\d+: challenge\.jwks_url carries a user or password, which the key fetch cannot send/);
  t.notMatch(error.message, /mfa-password/, 'the password is not quoted');
});

t.test('webhook token with a line break is rejected', async (t) => {
  const file = configFile('upstream: http://127.0.0.1:3000', 'webhook:', '  url: https://siem.example.com/hook');
  const error = loadError(file, { RISKGATE_WEBHOOK_TOKEN: 'WebhookT0kenSecret\n# rotated 2026-12-01' });
  t.match(error.message, /environment: RISKGATE_WEBHOOK_TOKEN contains "\\n" at position 19, which no Authorization header can carry/);
  t.notMatch(error.message, /WebhookT0kenSecret/, 'the token is not quoted');
});

t.test('admin token with whitespace is rejected', async (t) => {
  const file = configFile('upstream: http://127.0.0.1:3000');
  // openssl rand -base64 64 breaks its output into lines of 64 characters.
  for (const [token, shown] of [['TopSecretAdminToken12345678 90abcdefgh', '" "'], [`${'a'.repeat(64)}\n${'b'.repeat(24)}`, '"\\n"']]) {
    const error = loadError(file, { RISKGATE_ADMIN_TOKEN: token });
    t.match(error.message, `RISKGATE_ADMIN_TOKEN: the admin token contains ${shown} at position`, `${shown}: named`);
    t.match(error.message, /no Authorization header can carry/, `${shown}: the reason`);
    t.notMatch(error.message, /TopSecret|aaaa/, `${shown}: the token is not quoted`);
  }
});

t.test('unparseable REDIS_URL names the variable', async (t) => {
  const file = configFile('upstream: http://127.0.0.1:3000');
  const error = loadError(file, { REDIS_URL: 'redis://user:pa/ss@127.0.0.1:6379' });

  t.equal(error.problems.length, 1);
  t.match(error.message, /environment: REDIS_URL "redis:\/\/\*\*\*@127\.0\.0\.1:6379" is not a valid URL/);
  t.notMatch(error.message, /pa\/ss/, 'the password is not echoed');
});

t.test('URLs without a scheme hide their credentials in errors', async (t) => {
  const file = configFile('upstream: http://127.0.0.1:3000');
  const upstream = loadError(file, { RISKGATE_UPSTREAM: ':UpstreamPw123@app.internal:3000' });
  t.match(upstream.message, /RISKGATE_UPSTREAM "\*\*\*@app\.internal:3000" is invalid/);
  t.notMatch(upstream.message, /UpstreamPw123/, 'the upstream password is not echoed');

  const redis = loadError(file, { REDIS_URL: 'user:RedisPw456@redis.internal:6379' });
  t.notMatch(redis.message, /RedisPw456/, 'the Redis password is not echoed');
  // A password with no user or colon before it reads like a scheme, and is hidden all the same.
  const bare = loadError(file, { REDIS_URL: 'Hunter2Secret@redis.internal:6379' });
  t.notMatch(bare.message, /Hunter2/, 'a bare password is not echoed');

  const webhook = loadError(configFile('upstream: http://127.0.0.1:3000', 'webhook:', '  url: //u:HookPw789@soar.example.com/hook'), {});
  t.match(webhook.message, /webhook\.url has an invalid format/);
  t.notMatch(webhook.message, /HookPw789/, 'the webhook password is not echoed');
});

t.test('invalid percent-escape in REDIS_URL', async (t) => {
  const file = configFile('upstream: http://127.0.0.1:3000');
  const error = loadError(file, { REDIS_URL: 'redis://:Secret%zz@127.0.0.1:6379' });

  t.equal(error.problems.length, 1);
  t.match(error.message, /environment: REDIS_URL "redis:\/\/\*\*\*@127\.0\.0\.1:6379" has an invalid percent-encoding in its user name or password/);
  t.match(error.message, /write "%" as %25/, 'the message says how to fix it');
  t.match(error.message, /REDIS_URL overrides store\.url/, 'the message names the setting');
  t.notMatch(error.message, /Secret/, 'the password is not echoed');
});

t.test('invalid percent-escape in store.url', async (t) => {
  const error = loadError(configFile('upstream: http://127.0.0.1:3000', 'store: { url: "redis://us%e0r:pw@127.0.0.1:6379" }'));

  t.match(error.message, /:2:15: store\.url "redis:\/\/\*\*\*@127\.0\.0\.1:6379" has an invalid percent-encoding/);
  t.notMatch(error.message, /us%e0r/, 'the user name is not echoed');
});

t.test('store URL database path', async (t) => {
  for (const url of ['redis://127.0.0.1:6379/cache', 'redis://:pw@127.0.0.1:6379/%31', 'redis://127.0.0.1:6379/1/2']) {
    const error = loadError(configFile('upstream: http://127.0.0.1:3000'), { REDIS_URL: url });
    t.match(error.message, /has a path that is not a database number: end the URL with the database, such as \/0/, url);
  }
  for (const url of ['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379/', 'rediss://:p%40ss@127.0.0.1:6379/12']) {
    t.ok(loadConfigFile(configFile('upstream: http://127.0.0.1:3000'), { secret: SECRET, env: { REDIS_URL: url } }), `${url} passes`);
  }
});

t.test('upstream with a path is refused', async (t) => {
  for (const upstream of ['http://127.0.0.1:3000/base/', 'http://127.0.0.1:3000?x=1', '"http://127.0.0.1:3000#frag-marker"']) {
    const error = loadError(configFile(`upstream: ${upstream}`), {});
    t.notMatch(error.message, /frag-marker/, `${upstream}: a fragment is not echoed`);
    t.match(error.message, /has a path, query or fragment, which riskgate would ignore.*give the origin alone, such as http:\/\/127\.0\.0\.1:3000/,
      `${upstream}: the message names the origin to use`);
    t.match(error.message, /riskgate\.yaml:1:|\.yaml:1:/, `${upstream}: it points at the line`);
  }
  t.ok(loadConfigFile(configFile('upstream: http://127.0.0.1:3000/'), { secret: SECRET, env: {} }), 'a bare trailing slash passes');
});

t.test('upstream with a password is refused', async (t) => {
  const error = loadError(configFile('upstream: http://app:hunter2@127.0.0.1:3000'), {});

  t.match(error.message, /has a user name or password, which riskgate never sends to the app/);
  t.match(error.message, /such as http:\/\/127\.0\.0\.1:3000/);
  t.notMatch(error.message, /hunter2/, 'the password is not repeated');
});

t.test('missing secret says how to set it', async (t) => {
  const file = configFile('upstream: http://127.0.0.1:3000');
  const error = loadError(file, {}, null);

  t.equal(error.code, 'RG_ERR_SECRET_MISSING');
  t.match(error.message, /^RISKGATE_SECRET is not set; /);
  t.match(error.message, /needs at least 32 characters: export RISKGATE_SECRET="\$\(openssl rand -base64 48\)"/);
});

t.test('short secret is refused', async (t) => {
  const file = configFile('upstream: http://127.0.0.1:3000');
  const error = loadError(file, { RISKGATE_SECRET: 'too-short' }, null);

  t.equal(error.code, 'RG_ERR_SECRET_MISSING');
  t.match(error.message, /^RISKGATE_SECRET is too short \(9 characters\); /);
  t.match(error.message, /export RISKGATE_SECRET=/);
  t.notMatch(error.message, /too-short/, 'the secret itself is not echoed');
});

t.test('secret is read from the environment', async (t) => {
  const file = configFile('upstream: http://127.0.0.1:3000');
  const config = loadConfigFile(file, { env: { RISKGATE_SECRET: SECRET } });

  t.equal(config.secret, SECRET);
});

t.test('step-up without a key names the fix', async (t) => {
  const defaulted = loadError(bareConfigFile('upstream: http://127.0.0.1:3000'));
  const explicit = loadError(configFile('upstream: http://127.0.0.1:3000', 'challenge:', '  mode: step-up'));

  t.equal(defaulted.problems.length, 1);
  t.match(defaulted.message, /challenge\.mode is step-up \(the default\) but no key to verify step-up assertions is set/);
  t.match(defaulted.message, /set challenge\.public_key_file, challenge\.jwks_file or challenge\.jwks_url/);
  t.match(defaulted.message, /or set challenge\.mode: forward/);
  t.equal(explicit.problems.length, 1);
  t.same([explicit.problems[0].line, explicit.problems[0].column], [3, 9], 'located at challenge.mode');
  t.notMatch(explicit.message, /the default/);
});

t.test('forward mode needs no key', async (t) => {
  const config = loadConfigFile(configFile('upstream: http://127.0.0.1:3000', FORWARD_MODE), {
    env: {},
    secret: SECRET,
  });

  t.equal(config.challenge.mode, 'forward');
  t.equal(config.challenge.publicKeyFile, undefined);
});

t.test('two key sources are rejected', async (t) => {
  const file = configFile(
    'upstream: http://127.0.0.1:3000',
    'challenge:',
    '  public_key_file: mfa.pem',
    '  jwks_url: https://mfa.example.com/jwks.json',
  );
  const error = loadError(file);

  t.equal(error.problems.length, 1);
  t.match(error.message, /:4:13: challenge sets challenge\.public_key_file and challenge\.jwks_url; set only one key source/);
});

t.test('embedded config may get its key in code', async (t) => {
  const config = loadConfigObject({ upstream: 'http://127.0.0.1:3000' }, directory, { env: {}, secret: SECRET });

  t.equal(config.challenge.mode, 'step-up', 'the demo and tests pass the key to startGateway');
});

t.test('invalid values are quoted', async (t) => {
  const file = configFile(
    'upstream: http://127.0.0.1:3000',
    'listen: localhost:http',
    'block:',
    '  status: 500',
    'store:',
    '  memory_max_entries: 10',
    'login_routes:',
    '  - path: login',
  );
  const error = loadError(file);

  t.equal(error.problems.length, 4);
  t.match(error.message, /:2:9: listen has an invalid format \(use host:port such as 127\.0\.0\.1:8080\), got "localhost:http"/);
  t.match(error.message, /:4:11: block\.status must be one of 403, 429, got 500/);
  t.match(error.message, /:6:23: store\.memory_max_entries must be >= 1000, got 10/);
  t.match(error.message, /:8:11: login_routes\.0\.path has an invalid format \(start it with \/, such as \/login\), got "login"/);
});

t.test('credentials are never quoted', async (t) => {
  const file = configFile(
    'upstream: http://127.0.0.1:3000',
    'admin:',
    '  token: 123456789012345678901234567890123456',
    'store:',
    '  url: http://default:hunter2-redis-password@redis.internal:6379',
  );
  const error = loadError(file);

  t.match(error.message, /:3:10: admin\.token must be string\n/);
  t.match(error.message, /got "http:\/\/\*\*\*@redis\.internal:6379"/);
  t.notMatch(error.message, /123456789012345678901234567890123456/, 'the token is not repeated');
  t.notMatch(error.message, /hunter2/, 'the Redis password is not repeated');
});

t.test('listen port above 65535 is refused', async (t) => {
  const error = loadError(configFile('upstream: http://127.0.0.1:3000', 'listen: 127.0.0.1:99999'));
  const fromEnvironment = loadError(configFile('upstream: http://127.0.0.1:3000'), { RISKGATE_LISTEN: '0.0.0.0:70000' });

  t.match(error.message, /:2:9: listen "127\.0\.0\.1:99999" has a port above 65535/);
  t.match(fromEnvironment.message, /RISKGATE_LISTEN "0\.0\.0\.0:70000" has a port above 65535/);
});

t.test('device cookie name follows secure', async (t) => {
  const secure = loadConfigFile(configFile('upstream: http://127.0.0.1:3000'), { env: {}, secret: SECRET });
  const plain = loadConfigFile(configFile('upstream: http://127.0.0.1:3000', 'device_cookie: { secure: false }'), { env: {}, secret: SECRET });
  const named = loadConfigFile(configFile('upstream: http://127.0.0.1:3000', 'device_cookie: { name: sid_device }'), { env: {}, secret: SECRET });
  const error = loadError(configFile('upstream: http://127.0.0.1:3000', 'device_cookie: { name: __Host-dev, secure: false }'));

  t.equal(secure.deviceCookie.name, '__Host-rg_device', 'a sibling subdomain cannot set a __Host- cookie');
  t.equal(plain.deviceCookie.name, 'rg_device', 'browsers drop a __Host- cookie without Secure');
  t.equal(named.deviceCookie.name, 'sid_device');
  t.match(error.message, /:2:24: device_cookie\.name "__Host-dev" has a prefix that browsers accept only on a Secure cookie/);
});

t.test('device cookie SameSite', async (t) => {
  const lax = loadConfigFile(configFile('upstream: http://127.0.0.1:3000'), { env: {}, secret: SECRET });
  const none = loadConfigFile(configFile('upstream: http://127.0.0.1:3000', 'device_cookie: { same_site: none }'), { env: {}, secret: SECRET });
  const plain = loadError(configFile('upstream: http://127.0.0.1:3000', 'device_cookie: { same_site: none, secure: false }'));
  const unknown = loadError(configFile('upstream: http://127.0.0.1:3000', 'device_cookie: { same_site: relaxed }'));

  t.equal(lax.deviceCookie.sameSite, 'lax', 'lax by default');
  t.equal(none.deviceCookie.sameSite, 'none');
  t.match(plain.message, /:2:29: device_cookie\.same_site "none" needs a Secure cookie/);
  t.match(unknown.message, /same_site/);
});

t.test('step-up header needs a name of its own', async (t) => {
  for (const header of ['Authorization', 'Cookie', 'X-Forwarded-For', 'Sec-Fetch-Mode', 'Riskgate-Risk']) {
    const error = loadError(configFile('upstream: http://127.0.0.1:3000', `challenge: { header: ${header} }`));
    t.match(error.message, new RegExp(`challenge\\.header "${header}" is a header that clients, proxies or riskgate itself send`), header);
  }
  const own = loadConfigFile(configFile('upstream: http://127.0.0.1:3000', 'challenge: { mode: forward, header: X-Step-Up }'), { env: {}, secret: SECRET });
  t.equal(own.challenge.header, 'X-Step-Up');
});

t.test('step-up cookie needs its own name', async (t) => {
  const error = loadError(configFile('upstream: http://127.0.0.1:3000', 'device_cookie: { secure: false }', 'challenge: { cookie: rg_device }'));

  t.match(error.message, /:3:22: challenge\.cookie "rg_device" is also the device cookie's name/);
});

t.test('problems are listed in file order', async (t) => {
  const file = configFile('lisen: 127.0.0.1:8080', 'upstream: ftp://app.internal', 'trusted_proxies: [bogus]', 'mode: watch');
  const error = loadError(file);

  t.same(error.problems.map((problem) => problem.line), [1, 2, 3, 4]);
});

t.test('a mistyped URL is quoted without its password', async (t) => {
  const cases: [string, RiskgateError, RegExp][] = [
    ['store.url with a mistyped scheme', loadError(configFile('upstream: http://127.0.0.1:3000', 'store: { url: "rediss//:S3cretPW@127.0.0.1:6393" }')),
      /store\.url has an invalid format .*got "rediss\/\/\*\*\*@127\.0\.0\.1:6393"/],
    ['REDIS_URL with a mistyped scheme', loadError(configFile('upstream: http://127.0.0.1:3000'), { REDIS_URL: 'redis//:S3cretPW@127.0.0.1:6393' }),
      /REDIS_URL "redis\/\/\*\*\*@127\.0\.0\.1:6393" is invalid/],
    ['store.url with @ in its password', loadError(configFile('upstream: http://127.0.0.1:3000', 'store: { url: "redis//:Tr0ub@S3cretPW@127.0.0.1:6393" }')),
      /got "redis\/\/\*\*\*@127\.0\.0\.1:6393"/],
    ['RISKGATE_UPSTREAM without slashes', loadError(configFile('listen: 127.0.0.1:8080'), { RISKGATE_UPSTREAM: 'http:S3cretPW@127.0.0.1:3000' }),
      /RISKGATE_UPSTREAM "http:\*\*\*@127\.0\.0\.1:3000" is invalid/],
  ];
  for (const [name, error, message] of cases) {
    t.match(error.message, message, `${name}: named without the password`);
    t.notMatch(error.message, /S3cretPW/, `${name}: the password is not in the message`);
  }
});

t.test('an unreadable redirect location is named with its line', async (t) => {
  const error = loadError(configFile(
    'upstream: http://127.0.0.1:3000',
    'login_routes:',
    '  - path: /login',
    '    success_location: [/home, /app/../dashboard]',
  ));
  t.match(error.message, /:4:31: login_routes\[0\]\.success_location entry "\/app\/\.\.\/dashboard" is not a path riskgate can read: the path has a dot segment/);
});

t.test('a Redis URL that start could not parse fails the check', async (t) => {
  const error = loadError(configFile('upstream: http://127.0.0.1:3000', 'store: { url: "redis://default:s3cr/etPW@127.0.0.1:6394" }'));
  t.match(error.message, /store\.url "redis:\/\/\*\*\*@127\.0\.0\.1:6394" is not a valid URL: percent-encode/);
  t.notMatch(error.message, /etPW/, 'the password is not in the message');
});
