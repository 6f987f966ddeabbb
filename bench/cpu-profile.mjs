// Summarise a V8 .cpuprofile (written by `node --cpu-prof`): self time by area of the code
// and by function, so the benchmark page shows where a login's CPU goes.
import { readFileSync } from 'node:fs';

/**
 * Return the area a profile node's code belongs to: a riskgate module (`src/proxy/login`),
 * a dependency (`ioredis`), Node's own code (`node:http`), or a V8 category such as
 * `(garbage collector)`.
 */
export function areaOf(callFrame) {
  const url = callFrame.url ?? '';
  const dependency = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (dependency) return dependency[1];
  const own = /\/dist\/(.+)\.js$/.exec(url);
  if (own) return `src/${own[1]}`;
  if (url.startsWith('node:')) return url.replace(/^node:internal\//, 'node:').split('/').slice(0, 2).join('/');
  if (url === '') return callFrame.functionName.startsWith('(') ? callFrame.functionName : '(native)';
  return url.replace(/^file:\/\/.*\/bench\//, 'bench/');
}

/** Summarise one profile file: total sampled time and the top areas and functions by self time. */
export function summariseProfile(file, top = 15) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const selfUs = new Map();
  const intervals = profile.timeDeltas;
  profile.samples.forEach((id, index) => {
    selfUs.set(id, (selfUs.get(id) ?? 0) + (intervals[index] ?? 0));
  });

  const areas = new Map();
  const functions = new Map();
  let totalUs = 0;
  let idleUs = 0;
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0;
    if (us === 0) continue;
    if (node.callFrame.functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    totalUs += us;
    const area = areaOf(node.callFrame);
    areas.set(area, (areas.get(area) ?? 0) + us);
    const name = `${node.callFrame.functionName || '(anonymous)'} ${area}:${node.callFrame.lineNumber + 1}`;
    functions.set(name, (functions.get(name) ?? 0) + us);
  }

  const ranked = (map) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, share: us / totalUs }));
  return { busyMs: totalUs / 1000, idleMs: idleUs / 1000, areas: ranked(areas), functions: ranked(functions) };
}
