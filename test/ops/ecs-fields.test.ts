import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

import t from 'tap';

import { ADMIN_TOKEN, admin } from '../admin/client.js';
import { BROWSER_HEADERS, PROJECT_ROOT, login, send, startTestGateway } from '../helpers/gateway.js';
import { RecordingUpstream } from '../helpers/upstream.js';
import { waitFor, waitForDecisions } from '../helpers/wait.js';
import { FileTree, SET_A, SET_B, configText, startReloadingGateway, waitForReload } from '../reload/helpers.js';
import { FIELD_LIST, checkLine, fitsType } from './ecs.js';

const CHECKED_MESSAGES = new Set(['login decision', 'login rejected', 'admin action', 'admin authentication failed']);

function readJson(path: string): Record<string, any> {
  return JSON.parse(readFileSync(resolve(PROJECT_ROOT, path), 'utf8'));
}

t.test('log lines use only listed fields of the listed types', async (t) => {
  const upstream = await new RecordingUpstream().start();
  const gateway = await startTestGateway({
    upstream: upstream.url,
    config: { trusted_proxies: ['127.0.0.1/32'], admin: { token: ADMIN_TOKEN } },
  });
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
  });
  const via = (address: string) => ({ headers: { 'x-forwarded-for': address } });

  await login(gateway.port, 'alice', 'wonderland', via('8.8.8.8'));
  await login(gateway.port, 'alice', 'wrong', via('2001:db8::7'));
  await send(gateway.port, {
    method: 'POST',
    path: '/login',
    headers: { 'user-agent': 'curl/8.5.0', 'content-type': 'application/json', 'x-forwarded-for': '198.51.100.4' },
    body: JSON.stringify({ username: 'bob', password: 'x' }),
  });
  for (let index = 0; index < 11; index += 1) {
    await login(gateway.port, `user${index}`, 'wrong', via('192.0.2.9'));
  }
  await admin(gateway.adminPort, 'POST', '/v1/manual-entries', {
    body: { action: 'block', username: 'mallory', ttl: '1h', reason: 'test' },
  });
  await login(gateway.port, 'mallory', 'wonderland', via('203.0.113.5'));
  await admin(gateway.adminPort, 'GET', '/v1/manual-entries', { token: 'wrong-token' });
  await send(gateway.port, {
    method: 'POST',
    path: '/login',
    headers: { ...BROWSER_HEADERS, 'content-type': 'application/json' },
    body: '{"username":',
  });
  const decisions = await waitForDecisions(gateway.logs, 15);

  const lines = gateway.logs.lines.filter((line) => CHECKED_MESSAGES.has(line.message));
  const messages = new Set(lines.map((line) => line.message));
  t.same([...messages].sort(), [...CHECKED_MESSAGES].sort(), 'every kind of checked line was produced');
  t.ok(decisions.some((line) => line.source.geo?.location), 'a line with a geo point was checked');
  t.ok(decisions.some((line) => line.riskgate.decision === 'block' && line.http.response.status_code === 429));
  t.ok(decisions.some((line) => line.riskgate.manual === 'block'));
  for (const line of lines) {
    t.same(checkLine(line), [], `${line.message} ${line.event?.action ?? ''}`);
  }
});

t.test('reload lines use only listed fields', async (t) => {
  const tree = new FileTree();
  tree.replace('rules/policy.yaml', SET_A);
  const upstream = await new RecordingUpstream().start();
  const gateway = await startReloadingGateway(tree, upstream.url);
  t.teardown(async () => {
    await gateway.close();
    await upstream.stop();
    tree.remove();
  });

  tree.replace('rules/policy.yaml', SET_B.replace('score: 30', 'score: thirty'));
  await waitForReload(gateway.logs, 'failure', 1);
  tree.replace('rules/policy.yaml', SET_B);
  tree.replace('riskgate.yaml', configText(upstream.url, 'mode: monitor\nbody_limit_bytes: 4096'));
  await waitFor(() => gateway.logs.lines.some((line) => line.riskgate?.reload?.restart_required), 'the restart warning', 5000);

  const lines = gateway.logs.lines.filter((line) => line.event?.action === 'rules-reload');
  t.same(lines.map((line) => line.log.level).sort(), ['error', 'warn', 'warn'],
    'a rejection, a swap that removes rules and a restart warning');
  t.ok(lines.some((line) => line.riskgate?.reload?.removed_rules && line.riskgate.reload.warnings), 'the swap lists removed rules and warnings');
  for (const line of lines) {
    t.same(checkLine(line), [], `${line.log.level} ${line.message}`);
  }
});

t.test('sample decisions pass the same check', async (t) => {
  const text = readFileSync(resolve(PROJECT_ROOT, 'docs', 'siem', 'sample-decisions.ndjson'), 'utf8');
  const lines = text.trim().split('\n').map((line) => JSON.parse(line));

  t.equal(lines.length, 10);
  for (const [index, line] of lines.entries()) {
    t.equal(line.message, 'login decision', `line ${index + 1} is a decision line`);
    t.same(checkLine(line), [], `line ${index + 1} fits the field list`);
    t.match(line.user?.name ?? '', /^[0-9a-f]{32}$/, `line ${index + 1} names the account by pseudonym`);
  }
  t.notOk(/password/i.test(text), 'no password field or value appears');
});

t.test('field types are Elasticsearch types', async (t) => {
  const known = ['keyword', 'wildcard', 'match_only_text', 'long', 'float', 'boolean', 'date', 'ip', 'geo_point', 'flattened'];

  for (const [name, type] of Object.entries({ ...FIELD_LIST.ecs, ...FIELD_LIST.custom })) {
    t.ok(known.includes(type), `${name} has a known type (${type})`);
  }
  for (const name of Object.keys(FIELD_LIST.ecs)) {
    t.notOk(name.startsWith('riskgate.'), `${name} is listed as ECS but is custom`);
  }
  for (const name of Object.keys(FIELD_LIST.custom)) {
    t.ok(name.startsWith('riskgate.'), `${name} is custom and sits under riskgate.*`);
  }
  t.ok(fitsType('2026-01-01T00:00:00.000Z', 'date'));
  t.notOk(fitsType('yesterday', 'date'));
  t.notOk(fitsType(1.5, 'long'));
});

t.test('index templates map every listed field', async (t) => {
  const flavours: [string, Record<string, string>][] = [
    ['docs/siem/elasticsearch-index-template.json', {}],
    ['docs/siem/opensearch-index-template.json', { wildcard: 'keyword', match_only_text: 'text', flattened: 'flat_object' }],
  ];

  for (const [file, renamed] of flavours) {
    const template = readJson(file);
    const mappings = template.template.mappings;
    const patterns = new Map<string, string>(
      mappings.dynamic_templates.map((entry: Record<string, any>) => {
        const rule = Object.values(entry)[0] as { path_match: string; mapping: { type: string } };
        return [rule.path_match, rule.mapping.type];
      }),
    );

    for (const [name, type] of Object.entries({ ...FIELD_LIST.ecs, ...FIELD_LIST.custom })) {
      const expected = renamed[type] ?? type;
      if (name.endsWith('.*')) {
        t.equal(patterns.get(name), expected, `${file}: ${name} has a dynamic template`);
        continue;
      }
      const node = name.split('.').reduce<any>((parent, part) => parent?.properties?.[part], { properties: mappings.properties });
      t.equal(node?.type, expected, `${file}: ${name} is mapped as ${expected}`);
    }
  }
});
