// The replay engine's rate on synthetic login events, in a process of its own: counters
// and rules only, no file to read or parse. Prints one JSON object.
import { replayEvents } from '../dist/replay/replay.js';
import { syntheticLoginEvents } from '../dist/replay/synthetic.js';
import { loadRuleSet } from '../dist/rules/compile.js';

const events = Number(process.argv[2] ?? 200_000);
const ruleSet = loadRuleSet([new URL('../rules', import.meta.url).pathname]);
// A first pass compiles the hot paths, so the measured pass shows the steady rate.
await replayEvents(syntheticLoginEvents(Math.min(events, 20_000)), { ruleSet });
const summary = await replayEvents(syntheticLoginEvents(events), { ruleSet });
process.stdout.write(JSON.stringify({ events: summary.events, eventsPerSecond: summary.eventsPerSecond, changed: summary.changed }));
