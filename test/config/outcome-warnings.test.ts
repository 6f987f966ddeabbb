import { exportSPKI, generateKeyPair } from 'jose';
import t from 'tap';

import { runCheck } from '../../src/cli/tuning.js';
import { DEFAULT_RULES, startTestGateway } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { captureOutput, writeTree } from '../tuning/io.js';

// A form-login app redirects after a failure too, so a route that lists only where a success
// goes counts no failure at all, and the rules on failure counters never fire.
t.test('success_location without failure_location is warned about', async (t) => {
  const base = `upstream: http://127.0.0.1:3000\nrules: [${JSON.stringify(DEFAULT_RULES)}]\nchallenge: { mode: forward }\n`;
  const tree = writeTree({
    'success-only.yaml': `${base}login_routes: [{ id: form, path: /login, body: form, success_location: [/home] }]\n`,
    'both.yaml': `${base}login_routes: [{ id: form, path: /login, body: form, success_location: [/home], failure_location: [/login] }]\n`,
  });
  t.teardown(tree.remove);

  const warned = captureOutput();
  t.equal(await runCheck({ config: tree.path('success-only.yaml') }, [], warned.io), 0, 'the warning does not fail the check');
  t.match(warned.out(), /warning: login route form lists success_location but no failure_location/);
  t.match(warned.out(), /list the page a failure goes to under failure_location/);

  const quiet = captureOutput();
  await runCheck({ config: tree.path('both.yaml') }, [], quiet.io);
  t.notMatch(quiet.out(), /failure_location/, 'a route with both lists passes');
});

t.test('success_status that counts a 200 page is warned about', async (t) => {
  const base = `upstream: http://127.0.0.1:3000\nrules: [${JSON.stringify(DEFAULT_RULES)}]\nchallenge: { mode: forward }\n`;
  const tree = writeTree({
    'explicit.yaml': `${base}login_routes: [{ id: web, path: /login, success_status: [2xx] }]\n`,
    'default.yaml': `${base}login_routes: [{ id: web, path: /login }]\n`,
    'both-lists.yaml': `${base}login_routes: [{ id: web, path: /login, success_status: [2xx], failure_status: ["200", 4xx] }]\n`,
  });
  t.teardown(tree.remove);

  const warned = captureOutput();
  await runCheck({ config: tree.path('explicit.yaml') }, [], warned.io);
  t.match(warned.out(), /warning: login route web sets success_status to include 200, so a 200 HTML page counts as a success/);

  for (const name of ['default.yaml', 'both-lists.yaml']) {
    const quiet = captureOutput();
    await runCheck({ config: tree.path(name) }, [], quiet.io);
    t.notMatch(quiet.out(), /include 200/, `${name}: no warning`);
  }
});

t.test('a Secure device cookie without __Host- is warned about', async (t) => {
  const base = `upstream: http://127.0.0.1:3000\nrules: [${JSON.stringify(DEFAULT_RULES)}]\nchallenge: { mode: forward }\n`;
  const tree = writeTree({
    'plain-name.yaml': `${base}device_cookie: { name: rg_device, secure: true }\n`,
    'default-name.yaml': `${base}device_cookie: { secure: true }\n`,
  });
  t.teardown(tree.remove);

  const warned = captureOutput();
  await runCheck({ config: tree.path('plain-name.yaml') }, [], warned.io);
  t.match(warned.out(), /warning: device_cookie\.name "rg_device" has no __Host- prefix although the cookie is Secure.*use __Host-rg_device/);

  const quiet = captureOutput();
  await runCheck({ config: tree.path('default-name.yaml') }, [], quiet.io);
  t.notMatch(quiet.out(), /__Host-/, 'the default name draws no warning');
});

t.test('a step-up cookie without __Host- is warned about', async (t) => {
  const { publicKey } = await generateKeyPair('ES256');
  const base = `upstream: http://127.0.0.1:3000\nrules: [${JSON.stringify(DEFAULT_RULES)}]\nchallenge: { public_key_file: mfa.pem`;
  const tree = writeTree({
    'mfa.pem': await exportSPKI(publicKey),
    'plain-name.yaml': `${base}, cookie: rg_step_up }\n`,
    'default-name.yaml': `${base} }\n`,
  });
  t.teardown(tree.remove);

  const warned = captureOutput();
  await runCheck({ config: tree.path('plain-name.yaml') }, [], warned.io);
  t.match(warned.out(), /warning: challenge\.cookie "rg_step_up" has no __Host- prefix.*use __Host-rg_step_up/);

  const quiet = captureOutput();
  await runCheck({ config: tree.path('default-name.yaml') }, [], quiet.io);
  t.notMatch(quiet.out(), /__Host-/, 'the default name draws no warning');
});

t.test('a script route with subpaths: forward is warned about', async (t) => {
  const base = `upstream: http://127.0.0.1:3000\nrules: [${JSON.stringify(DEFAULT_RULES)}]\nchallenge: { mode: forward }\n`;
  const tree = writeTree({
    'script.yaml': `${base}login_routes: [{ id: wp, path: /wp-login.php, subpaths: forward }]\n`,
    'plain.yaml': `${base}login_routes: [{ id: web, path: /login, subpaths: forward }]\n`,
  });
  t.teardown(tree.remove);

  const warned = captureOutput();
  await runCheck({ config: tree.path('script.yaml') }, [], warned.io);
  t.match(warned.out(), /warning: login route wp has subpaths: forward, but its path \/wp-login\.php is a script.*\/wp-login\.php\/x/);

  const quiet = captureOutput();
  await runCheck({ config: tree.path('plain.yaml') }, [], quiet.io);
  t.notMatch(quiet.out(), /is a script/, 'a route that is no script passes');
});

t.test('the gateway logs the same warning at start', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({
    upstream: upstream.url,
    config: { login_routes: [{ id: 'form', path: '/login', body: 'form', success_location: ['/home'] }] },
  });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });
  const warning = gateway.logs.lines.find((line) => /lists success_location but no failure_location/.test(line.message ?? ''));
  t.equal(warning?.log.level, 'warn', 'one warn line names the route');
});
