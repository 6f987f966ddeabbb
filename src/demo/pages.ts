import { createHash } from 'node:crypto';

/** Escapes `& < > " '` so that a value cannot end an HTML text node or a quoted attribute value. */
export function escapeHtml(value: string): string {
  return value
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

const STYLE = `
body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }
form { display: grid; gap: 0.5rem; max-width: 20rem; margin-bottom: 1rem; }
[hidden] { display: none; }
code, textarea { font-family: ui-monospace, monospace; word-break: break-all; }
textarea { width: 100%; min-height: 8rem; }
.note { color: #555; font-size: 0.9rem; }
#result { font-weight: bold; white-space: pre-wrap; }
`;

// The home page's login flow. It sets only textContent and input values, so nothing that a
// server returns is parsed as HTML.
const HOME_SCRIPT = `
const loginForm = document.getElementById('login-form');
const codeForm = document.getElementById('code-form');
const usernameInput = document.getElementById('username');
const passwordInput = document.getElementById('password');
const codeInput = document.getElementById('code');
const demoCodeButton = document.getElementById('demo-code');
const result = document.getElementById('result');
let pending = null;

function show(message) {
  result.textContent = message;
}

async function postJson(path, body, headers) {
  const response = await fetch(path, {
    method: 'POST',
    headers: Object.assign({ 'content-type': 'application/json' }, headers),
    body: JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  try {
    data = JSON.parse(text);
  } catch {
    data = null;
  }
  return { status: response.status, data: data };
}

function describe(reply) {
  const data = reply.data || {};
  const reason = data.error || data.detail || data.title || 'no details in the response';
  return 'HTTP ' + reply.status + ': ' + reason;
}

async function logIn(credentials, stepUp) {
  const headers = {};
  if (stepUp) {
    headers[stepUp.header] = stepUp.assertion;
  }
  const reply = await postJson('/login', credentials, headers);
  if (reply.status === 200 && reply.data && reply.data.ok === true) {
    codeForm.hidden = true;
    show('Logged in as ' + reply.data.user + (stepUp ? ' after step-up.' : '.'));
    return;
  }

  const challenge = reply.data && reply.data.challenge;
  if (reply.status === 401 && !stepUp && challenge && typeof challenge.id === 'string') {
    pending = { credentials: credentials, challengeId: challenge.id };
    codeInput.value = '';
    codeForm.hidden = false;
    show('Step-up required: enter the 6-digit code from your authenticator app.');
    return;
  }

  codeForm.hidden = true;
  show('Login failed. ' + describe(reply));
}

async function submitCode() {
  const reply = await postJson('/mfa', {
    challenge: pending.challengeId,
    username: pending.credentials.username,
    code: codeInput.value.trim(),
  });
  if (reply.status !== 200 || !reply.data || typeof reply.data.assertion !== 'string') {
    show('Code rejected. ' + describe(reply));
    return;
  }

  const credentials = pending.credentials;
  pending = null;
  await logIn(credentials, { header: reply.data.header, assertion: reply.data.assertion });
}

async function fillDemoCode() {
  const username = encodeURIComponent(pending.credentials.username);
  const response = await fetch('/demo/code?username=' + username);
  const data = await response.json();
  if (response.status !== 200 || typeof data.code !== 'string') {
    show('Demo code request failed. ' + describe({ status: response.status, data: data }));
    return;
  }
  codeInput.value = data.code;
}

function reportFailure(error) {
  show('Request failed: ' + (error && error.message ? error.message : String(error)));
}

loginForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const credentials = {
    username: usernameInput.value,
    password: passwordInput.value,
  };
  return logIn(credentials, null).catch(reportFailure);
});

codeForm.addEventListener('submit', (event) => {
  event.preventDefault();
  if (pending) {
    return submitCode().catch(reportFailure);
  }
});

demoCodeButton.addEventListener('click', () => {
  if (pending) {
    return fillDemoCode().catch(reportFailure);
  }
});
`;

function hashForPolicy(source: string): string {
  return `'sha256-${createHash('sha256').update(source, 'utf8').digest('base64')}'`;
}

/**
 * Content-Security-Policy for every page. The hashes allow exactly the inline style and script
 * above, so an injected script element would not run even if an escape were missed.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `script-src ${hashForPolicy(HOME_SCRIPT)}`,
  `style-src ${hashForPolicy(STYLE)}`,
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

function renderPage(title: string, body: string, script = ''): string {
  const scriptElement = script === '' ? '' : `<script>${script}</script>`;

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${body}
${scriptElement}
</body>
</html>
`;
}

const DEMO_CODE_NOTE = `<p class="note">Demo only: <code>GET /demo/code?username=NAME</code>
returns the current TOTP code and stands in for the user's authenticator app. A real app never
exposes it.</p>`;

/** Renders the home page with a login form and the TOTP code form that step-up requires. */
export function renderHomePage(accounts: readonly string[]): string {
  const accountItems = accounts.map((account) => `<li><code>${escapeHtml(account)}</code></li>`);

  const body = `<p>This app runs behind riskgate, which scores each login and may allow it,
ask for a TOTP code (step-up) or block it.</p>
<form id="login-form" method="post" action="/login">
<label>Username <input id="username" name="username" autocomplete="username" required></label>
<label>Password <input id="password" name="password" type="password"
autocomplete="current-password" required></label>
<button type="submit">Log in</button>
</form>
<form id="code-form" hidden>
<label>TOTP code <input id="code" name="code" inputmode="numeric" pattern="[0-9]{6}"
maxlength="6" autocomplete="one-time-code" required></label>
<button type="submit">Verify code</button>
<button type="button" id="demo-code">Fill in the demo code</button>
</form>
<p id="result" role="status"></p>
<h2>Demo accounts</h2>
<ul>${accountItems.join('')}</ul>
${DEMO_CODE_NOTE}`;

  return renderPage('riskgate demo', body, HOME_SCRIPT);
}

/** Renders the MFA page for a user who opens the challenge's `mfa_url` directly. */
export function renderMfaPage(challengeId: string): string {
  const body = `<p>The gateway requires a second factor for this login. Enter the code from
your authenticator app.</p>
<form id="mfa-form" method="post" action="/mfa">
<label>Challenge <input name="challenge" value="${escapeHtml(challengeId)}" required></label>
<label>Username <input name="username" autocomplete="username" required></label>
<label>Code <input name="code" inputmode="numeric" pattern="[0-9]{6}" maxlength="6"
autocomplete="one-time-code" required></label>
<button type="submit">Verify code</button>
</form>
${DEMO_CODE_NOTE}`;

  return renderPage('Step-up verification', body);
}

/** Renders the page that a form post to /mfa gets: the assertion and the header that carries it. */
export function renderAssertionPage(assertion: string, header: string, expiresIn: number): string {
  const body = `<p>Code accepted. Repeat the login with this assertion in the
<code>${escapeHtml(header)}</code> request header within ${expiresIn} seconds.</p>
<textarea id="assertion" readonly>${escapeHtml(assertion)}</textarea>
<p class="note">Example: <code>curl -H '${escapeHtml(header)}: ASSERTION' ...</code></p>`;

  return renderPage('Step-up assertion', body);
}
