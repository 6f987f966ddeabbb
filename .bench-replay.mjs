import { loadRuleSet } from './dist/rules/compile.js';
import { replayEvents } from './dist/replay/replay.js';
import { syntheticLoginEvents } from './dist/replay/synthetic.js';
const rs = loadRuleSet(['/tmp/rgrules']);
for (let r = 0; r < 2; r++) {
const s = await replayEvents(syntheticLoginEvents(300000), { ruleSet: rs });
console.log(s.events, s.eventsPerSecond, JSON.stringify(s.matrix), s.labels);
}
