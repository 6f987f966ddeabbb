import t from 'tap';

import { runCheck } from '../../src/cli/tuning.js';
import { DEFAULT_RULES } from '../helpers/gateway.js';
import { captureOutput, writeTree } from '../tuning/io.js';

t.test('an invalid webhook URL is reported without its path or query', async (t) => {
  const config = `upstream: http://127.0.0.1:3000\nrules: [${JSON.stringify(DEFAULT_RULES)}]\nchallenge: { mode: forward }\n`;
  const tree = writeTree({
    'scheme.yaml': `${config}webhook: { url: "ftp://hooks.example/hook/SECRETPATH?token=QSECRET" }\n`,
    'parse.yaml': `${config}webhook: { url: "https://hooks.example:99999/hook/SECRETPATH?token=QSECRET" }\n`,
  });
  t.teardown(tree.remove);

  for (const file of ['scheme.yaml', 'parse.yaml']) {
    const output = captureOutput();
    const status = await runCheck({ config: tree.path(file) }, [], output.io);

    t.equal(status, 1, `${file}: the check fails`);
    t.match(output.out(), /webhook\.url/, `${file}: the error names the key`);
    t.match(output.out(), /http:\/\/ or https:\/\/ URL/, `${file}: the hint is the webhook's`);
    t.notMatch(output.out(), /SECRETPATH|QSECRET/, `${file}: neither the path nor the query is printed`);
  }
});
