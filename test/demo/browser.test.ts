import { authenticator } from 'otplib';
import t from 'tap';

import { CliProcess, cleanEnv, ensureBuilt, freePort } from '../helpers/cli.js';
import { CHROMIUM_PATHS, Chromium, findChromium, type Page } from '../helpers/chromium.js';
import { waitFor } from '../helpers/wait.js';

// The step-up of `riskgate demo` driven in headless Chromium: the gateway, the demo app and
// its pages as a person gets them, with TOTP codes computed here from the printed secrets.

const chromium = findChromium();
const skip = chromium
  ? false
  : `no Chromium binary at ${CHROMIUM_PATHS.join(' or ')}: install the Debian package chromium, ` +
    'or set RISKGATE_TEST_CHROMIUM to a Chromium binary';

// Headless Chromium names itself HeadlessChrome, which the default rules score as automation.
// The tests play a person at a desktop Chromium, so that only the failed guesses below
// lead to the challenge.
const DESKTOP_USER_AGENT =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36';

/** Failed guesses on one account before the default rules challenge its next login. */
const GUESSES_BEFORE_CHALLENGE = 5;

interface Demo {
  url: string;
  process: CliProcess;
  /** TOTP secrets by username, as the demo printed them. */
  secrets: Map<string, string>;
}

async function startDemo(): Promise<Demo> {
  ensureBuilt();
  const port = await freePort();
  const env = cleanEnv({ RISKGATE_LISTEN: `127.0.0.1:${port}`, RISKGATE_ADMIN_LISTEN: '127.0.0.1:0' });
  const demo = new CliProcess(['demo'], env);
  await demo.waitForOutput('Stop with Ctrl-C.', 20_000);

  const secrets = new Map<string, string>();
  for (const match of demo.stdout.matchAll(/^ {2}(\w+) \/ \S+ +TOTP secret ([A-Z2-7]+)$/gm)) {
    secrets.set(match[1], match[2]);
  }
  return { url: `http://127.0.0.1:${port}`, process: demo, secrets };
}

/** Return the JSON log lines the demo has printed so far, without its banner. */
function logLines(demo: Demo): string[] {
  return demo.process.stdout.split('\n').filter((line) => line.startsWith('{'));
}

/** Return the decision lines the demo has printed so far. */
function decisionLines(demo: Demo): Record<string, any>[] {
  return logLines(demo)
    .map((line) => JSON.parse(line))
    .filter((line) => line.message === 'login decision');
}

async function waitForDecisions(demo: Demo, count: number): Promise<Record<string, any>[]> {
  await waitFor(() => decisionLines(demo).length >= count, `${count} decision lines from the demo`, 10_000);
  return decisionLines(demo);
}

/** Submit the home page's login form and return the status line it shows. */
async function submitLogin(page: Page, username: string, password: string): Promise<string> {
  await page.evaluate(`document.getElementById('result').textContent = ''`);
  await page.type('#username', username);
  await page.type('#password', password);
  await page.click('#login-form button[type=submit]');
  return page.waitFor<string>(`document.getElementById('result').textContent`, `the result of ${username}'s login`);
}

/** Return whether the element is rendered, which an element hidden by attribute or style is not. */
function isShown(page: Page, selector: string): Promise<boolean> {
  return page.evaluate(`document.querySelector(${JSON.stringify(selector)}).checkVisibility()`);
}

/** Send a JSON login with fetch from the page, as a single-page app would, and return status and body. */
function fetchLogin(page: Page, body: object, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  return page.evaluate(`fetch('/login', {
    method: 'POST',
    headers: Object.assign({ 'content-type': 'application/json' }, ${JSON.stringify(headers)}),
    body: ${JSON.stringify(JSON.stringify(body))},
  }).then(async (response) => ({ status: response.status, body: await response.json() }))`);
}

t.test('demo step-up in Chromium', { skip }, async (t) => {
  const demo = await startDemo();
  t.teardown(() => demo.process.kill());
  const browser = await Chromium.launch(chromium!);
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  await page.setUserAgent(DESKTOP_USER_AGENT, 'en-GB,en;q=0.9');

  t.equal(demo.secrets.size, 2, 'the demo printed a TOTP secret for each user');

  t.test('home page login form steps up', async (t) => {
    await page.goto(`${demo.url}/`);
    t.equal(await page.evaluate('document.title'), 'riskgate demo');
    t.equal(await isShown(page, '#code-form'), false, 'the code form is hidden before a challenge');

    for (let guess = 1; guess <= GUESSES_BEFORE_CHALLENGE; guess += 1) {
      const result = await submitLogin(page, 'alice', `guess-${guess}`);
      t.equal(result, 'Login failed. HTTP 401: invalid username or password', `guess ${guess} reaches the app and fails`);
    }

    const challenged = await submitLogin(page, 'alice', 'wonderland');
    t.match(challenged, /^Step-up required: enter the 6-digit code/, 'the right password is challenged');
    t.equal(await isShown(page, '#code-form'), true, 'the code form is shown');

    await page.evaluate(`document.getElementById('result').textContent = ''`);
    await page.type('#code', authenticator.generate(demo.secrets.get('alice')!));
    await page.click('#code-form button[type=submit]');
    const result = await page.waitFor<string>(`document.getElementById('result').textContent`, 'the step-up result');

    t.equal(result, 'Logged in as alice after step-up.');
    t.equal(await isShown(page, '#code-form'), false, 'the code form is hidden again');

    const lines = await waitForDecisions(demo, GUESSES_BEFORE_CHALLENGE + 2);
    const guesses = lines.slice(0, GUESSES_BEFORE_CHALLENGE);
    const [challenge, stepUp] = lines.slice(GUESSES_BEFORE_CHALLENGE);
    t.same(guesses.map((line) => line.riskgate.decision), Array(GUESSES_BEFORE_CHALLENGE).fill('allow'), 'the guesses were allowed');
    t.same(guesses.map((line) => line.event.outcome), Array(GUESSES_BEFORE_CHALLENGE).fill('failure'), 'and failed at the app');
    t.equal(challenge.riskgate.decision, 'challenge');
    t.ok(challenge.rule.name.includes('bruteforce.account-failures'), 'the brute-force rule challenged');
    t.equal(challenge.user_agent.name, 'Chrome', 'the browser was judged as a desktop Chrome');
    t.equal(stepUp.riskgate.decision, 'allow', 'the repeated login was allowed');
    t.same(stepUp.riskgate.step_up, { ok: true }, 'with a valid assertion');
    t.equal(stepUp.event.outcome, 'success');
    t.equal(stepUp.riskgate.would_decision, 'challenge', 'which the rules alone would have challenged');
  });

  t.test('MFA page issues a working assertion', async (t) => {
    await page.goto(`${demo.url}/`);
    const before = decisionLines(demo).length;
    for (let guess = 1; guess <= GUESSES_BEFORE_CHALLENGE; guess += 1) {
      const reply = await fetchLogin(page, { username: 'bob', password: `guess-${guess}` });
      t.equal(reply.status, 401, `guess ${guess} fails`);
    }

    const challenged = await fetchLogin(page, { username: 'bob', password: 'builder' });
    t.equal(challenged.status, 401, 'the right password is challenged');
    t.equal(challenged.body.title, 'step-up required');
    const mfaUrl = `${demo.url}${challenged.body.challenge.mfa_url}`;

    await page.goto(mfaUrl);
    t.equal(await page.evaluate('document.title'), 'Step-up verification');
    const prefilled = await page.evaluate(`document.querySelector('input[name=challenge]').value`);
    t.equal(prefilled, challenged.body.challenge.id, 'the MFA page carries the challenge id');

    await page.type('input[name=username]', 'bob');
    await page.type('input[name=code]', authenticator.generate(demo.secrets.get('bob')!));
    await page.click('#mfa-form button[type=submit]');
    const assertion = await page.waitFor<string>(`document.getElementById('assertion')?.value`, 'the assertion page');

    t.equal(await page.evaluate('document.title'), 'Step-up assertion');
    t.match(assertion, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'the page shows a JWT');

    const header = challenged.body.challenge.header;
    const passed = await fetchLogin(page, { username: 'bob', password: 'builder' }, { [header]: assertion });
    t.equal(passed.status, 200, 'the repeated login with the assertion is allowed');
    t.same(passed.body, { ok: true, user: 'bob' }, "the app's answer comes back");

    const replayed = await fetchLogin(page, { username: 'bob', password: 'builder' }, { [header]: assertion });
    t.equal(replayed.status, 401, 'the same assertion does not work twice');

    const lines = (await waitForDecisions(demo, before + GUESSES_BEFORE_CHALLENGE + 3)).slice(before);
    const [passedLine, replayLine] = lines.slice(GUESSES_BEFORE_CHALLENGE + 1);
    t.same(passedLine.riskgate.step_up, { ok: true });
    t.same(replayLine.riskgate.step_up, { ok: false, reason: 'replay' });
    const logText = logLines(demo).join('\n');
    t.notOk(logText.includes(assertion), 'the assertion is never logged');
    t.notOk(logText.includes('builder'), 'nor the password');
  });
});
