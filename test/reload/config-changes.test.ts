import t from 'tap';

import { loadConfigObject } from '../../src/config/load.js';
import { restartRequiredKeys } from '../../src/reload/config-changes.js';
import { PROJECT_ROOT, TEST_SECRET } from '../helpers/gateway.js';

const BASE = { upstream: 'http://127.0.0.1:3000', admin: { listen: '127.0.0.1:9090' } };

function config(extra: Record<string, unknown> = {}) {
  return loadConfigObject({ ...BASE, ...extra }, PROJECT_ROOT, { env: {}, secret: TEST_SECRET });
}

t.test('live keys need no restart', async (t) => {
  const changed = config({ rules: ['rules', 'more-rules'], ip_lists: { tor: 'tor.txt' }, mode: 'monitor' });

  t.same(restartRequiredKeys(config(), changed), []);
});

t.test('restart keys are named as in the file', async (t) => {
  const cases: [Record<string, unknown>, string[]][] = [
    [{ listen: '127.0.0.1:8081' }, ['listen']],
    [{ upstream: 'http://127.0.0.1:3001' }, ['upstream']],
    [{ store: { url: 'redis://127.0.0.1:6379' } }, ['store.url']],
    [{ store: { timeout: '80ms', key_prefix: 'other' } }, ['store.key_prefix', 'store.timeout']],
    [{ admin: { listen: '127.0.0.1:9091' } }, ['admin.listen']],
    [{ admin: { listen: '127.0.0.1:9090', token: 'a-new-admin-token-0123456789abcdef0123' } }, ['admin.token']],
    [{ challenge: { ttl: '2m' } }, ['challenge.ttl']],
    [{ block: { retry_after: '5m' } }, ['block.retry_after']],
    [{ device_cookie: { max_age: '30d' } }, ['device_cookie.max_age']],
    [{ reload: { debounce: '1s' } }, ['reload.debounce']],
    [{ log: { level: 'debug' } }, ['log.level']],
    [{ trusted_proxies: ['10.0.0.0/8'] }, ['trusted_proxies']],
    [{ login_routes: [{ path: '/signin' }] }, ['login_routes']],
    [{ body_limit_bytes: 4096, mode: 'monitor' }, ['body_limit_bytes']],
  ];

  for (const [extra, keys] of cases) {
    t.same(restartRequiredKeys(config(), config(extra)), keys, JSON.stringify(extra));
  }
});

t.test('restart warning never holds a value', async (t) => {
  const token = 'a-new-admin-token-0123456789abcdef0123';
  const keys = restartRequiredKeys(config(), config({ admin: { listen: '127.0.0.1:9090', token } }));

  t.notOk(keys.join(' ').includes(token));
});
