import t from 'tap';

import { ProgressBar } from '../../src/replay/progress.js';

t.test('progress bar draws, throttles and erases', async (t) => {
  let text = '';
  const bar = new ProgressBar(1000, (chunk) => {
    text += chunk;
  });

  bar.update(500, 8192);
  const first = text;
  bar.update(600, 16384);
  const throttled = text;
  bar.done();

  t.match(first, /^\r\[#{15}\.{15}\]  50%  8,192 logins  [\d,]+\/s $/);
  t.equal(throttled, first, 'a second update within 200 ms draws nothing');
  t.match(text.slice(first.length), /^\r {90}\r$/, 'done erases the line');
});

t.test('progress bar never drawn is not erased', async (t) => {
  let text = '';
  const bar = new ProgressBar(1000, (chunk) => {
    text += chunk;
  });

  bar.done();

  t.equal(text, '');
});
