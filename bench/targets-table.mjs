// The targets riskgate is measured against, checked in one run's results. Ratios compare
// configurations within the same run, so machine noise cancels out of them.

function ratioRow(label, value, base, minimum) {
  if (!value || !base) return [label, `>= ${minimum}%`, 'not measured', 'n/a'];
  const measured = (value / base) * 100;
  const verdict = measured >= minimum ? 'met' : `missed by ${(minimum - measured).toFixed(0)} points`;
  return [label, `>= ${minimum}%`, `${measured.toFixed(0)}%`, verdict];
}

function belowRow(label, measured, limit, unit, digits = 1) {
  if (typeof measured !== 'number' || !Number.isFinite(measured)) return [label, `< ${limit} ${unit}`, 'not measured', 'n/a'];
  const verdict = measured < limit ? 'met' : `missed by ${(measured - limit).toFixed(digits)} ${unit}`;
  return [label, `< ${limit} ${unit}`, `${measured.toFixed(digits)} ${unit}`, verdict];
}

/** Return each target as [figure, target, measured, verdict]. */
export function checkTargets(results) {
  const c = results.configurations;
  const bareLogin = c['bare-proxy/login'];
  const bareGet = c['bare-proxy/get'];
  const memoryLogin = c['riskgate-memory/login'];
  const redisLogin = c['riskgate-redis/login'];
  const rows = [
    ratioRow('login req/s, memory store, vs bare proxy', memoryLogin?.rps, bareLogin?.rps, 100),
    ratioRow('login req/s, Redis store, vs bare proxy', redisLogin?.rps, bareLogin?.rps, 85),
    ratioRow('pass-through GET req/s, memory store, vs bare proxy', c['riskgate-memory/get']?.rps, bareGet?.rps, 100),
    ratioRow('pass-through GET req/s, Redis store, vs bare proxy', c['riskgate-redis/get']?.rps, bareGet?.rps, 100),
    belowRow('added p99 at the fixed rate, memory store', memoryLogin && memoryLogin.p99 - bareLogin.p99, 1, 'ms', 2),
    belowRow('added p99 at the fixed rate, Redis store', redisLogin && redisLogin.p99 - bareLogin.p99, 2, 'ms', 2),
    belowRow('CPU per login beyond the bare proxy, memory store', memoryLogin && memoryLogin.cpuUsPerRequest - bareLogin.cpuUsPerRequest, 100, 'µs'),
    belowRow('CPU per login beyond the bare proxy, Redis store', redisLogin && redisLogin.cpuUsPerRequest - bareLogin.cpuUsPerRequest, 100, 'µs'),
  ];

  const redis = results.redis;
  if (redis) {
    const trips = redis.storeRoundTripsPerLogin;
    rows.push(['Redis round trips per login (one before the decision, one after the outcome)', '<= 2',
      trips.toFixed(2), trips <= 2.0001 ? 'met' : `missed by ${(trips - 2).toFixed(2)}`]);
  } else {
    rows.push(['Redis round trips per login', '<= 2', 'not measured', 'n/a']);
  }

  const store = results.store;
  rows.push(belowRow('memory store bytes per count counter key', store.countKeyBytes, 250, 'B', 0));
  rows.push(belowRow('memory store bytes per distinct counter key (one member)', store.distinctKeyBytes, 250, 'B', 0));
  const flood = store.flood;
  rows.push(['memory store entries after a flood of 10 × its maximum in distinct keys', `<= ${flood.maxEntries}`,
    String(flood.entriesAfter), flood.entriesAfter <= flood.maxEntries ? 'met' : `missed by ${flood.entriesAfter - flood.maxEntries}`]);

  const rate = results.replay?.engine.eventsPerSecond;
  rows.push(typeof rate === 'number'
    ? ['replay events per second, memory counters, synthetic events', '>= 100,000', Math.round(rate).toLocaleString('en-US'),
      rate >= 100_000 ? 'met' : `missed by ${Math.round(100_000 - rate).toLocaleString('en-US')}`]
    : ['replay events per second, memory counters, synthetic events', '>= 100,000', 'not measured', 'n/a']);
  return rows;
}

/** Append the targets table to the page's lines. */
export function renderTargets(results, lines) {
  lines.push('## Against the targets', '');
  lines.push('Ratios are to the bare proxy in this same run; CPU figures are medians of the saturation rounds.', '');
  lines.push('| figure | target | measured | verdict |', '| --- | --- | ---: | --- |');
  for (const row of checkTargets(results)) lines.push(`| ${row.join(' | ')} |`);
  lines.push('');
  const missed = checkTargets(results).filter((row) => row[3].startsWith('missed'));
  if (missed.length > 0) {
    lines.push(`${missed.length} ${missed.length === 1 ? 'target was' : 'targets were'} missed in this run. The optimisation record at the end of this page ` +
      'says why, from the CPU profile below.', '');
  }
}
