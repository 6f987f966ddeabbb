import fs from 'node:fs';
const dir = '/tmp/rgprof';
const f = fs.readdirSync(dir).sort().pop();
const p = JSON.parse(fs.readFileSync(dir + '/' + f));
const self = new Map();
const byId = new Map(p.nodes.map(n => [n.id, n]));
const dt = {};
for (let i = 0; i < p.samples.length; i++) { const id = p.samples[i]; dt[id] = (dt[id] || 0) + (p.timeDeltas[i] || 0); }
for (const n of p.nodes) { const k = n.callFrame.functionName + ' ' + n.callFrame.url.split('/').slice(-2).join('/') + ':' + n.callFrame.lineNumber; self.set(k, (self.get(k) || 0) + (dt[n.id] || 0)); }
const total = [...self.values()].reduce((a, b) => a + b, 0);
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log((v / total * 100).toFixed(1), k);
