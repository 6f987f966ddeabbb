import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

import type { CookieAccount } from '../challenge/device-cookie.js';
import { applyStepUp, type StepUpFailure, type StepUpResult } from '../challenge/step-up.js';
import { applyClaimOutcome, rejectIssuedBeforeLoss, rejectIssuedBeforeStart, stepUpClaim } from '../challenge/step-up-claim.js';
import type { LoginRoute } from '../config/types.js';
import { signHs256 } from '../crypto/hs256.js';
import { CounterPlan, type KeyParts } from '../decision/counter-plan.js';
import { successTeaches } from '../decision/learning.js';
import { appAnswered, checkedNoPassword, classifyResponse, withoutHtmlSuccess, type OutcomeReading } from '../decision/outcome.js';
import { decisionLogger, writeDecisionLine, type LoginRecord } from '../log/decision-log.js';
import { loggedLoginPath, loggedRedirectPath } from '../log/login-path.js';
import { sanitizeLogValue } from '../log/sanitize.js';
import { RequestRejection, decodeContentEncoding, readBody } from '../request/body.js';
import { resolveClientAddress, parseAddress, type ClientAddress } from '../request/client-ip.js';
import { parseLoginBody, removeConflictingLoginCookies } from '../request/credentials.js';
import { isRequestInvalid } from '../store/request-errors.js';
import { checkCrossSite, checkLoginHeaders } from '../request/framing.js';
import { accountOf, hostServed, normalizeAccountName, normalizeHost } from '../request/account-name.js';
import { fingerprintRequest } from '../request/fingerprint.js';
import { readReferer } from '../request/referer.js';
import { clearStepUpCookie, cookieValues, withoutCookie } from '../challenge/step-up-cookie.js';
import { allowOrigin, withdrawOrigin } from './cors.js';
import { counterIndexKey, profileKey } from '../profile/keys.js';
import { spellingTag } from '../profile/features.js';
import {
  MAX_EXPANDED_USERNAME,
  MAX_MARK_RUN,
  excessiveExpansion,
  longMarkRun,
  normalizeUsername,
  supplementaryLetter,
  unassignedCodePoint,
  usernameMarkup,
  type UsernameNormalization,
} from '../request/username.js';
import { countersToCel } from '../rules/activation.js';
import { evaluateRules } from '../rules/evaluate.js';
import type { CountedOutcome } from '../rules/types.js';
import { fieldHeaderName, type GatewayContext } from './context.js';
import { forwardRequest, sendProblem, type ForwardResult } from './forward.js';
import { forwardedHost, upstreamRequestHeaders } from './headers.js';
import { warnMissingForwardedFor } from './proxy-warnings.js';
import { carriesRoutingParameter } from './body-route.js';

/** Time a login's pending mark stays past its longest wait for the app (see PendingMark). */
const PENDING_MARGIN_MS = 1000;

/** Header riskgate adds in `forward` challenge mode, and always strips from clients. */
export const RISK_HEADER = 'riskgate-risk';

/**
 * Judge one login and carry out the decision: read the body, fingerprint the request, read
 * its counters in one store round trip, evaluate the rules, then forward, challenge or
 * block. After the app answers, one more round trip records the outcome, and one decision
 * line is logged. Nothing is forwarded before a decision exists for it.
 */
export async function handleLogin(
  context: GatewayContext,
  route: LoginRoute,
  request: IncomingMessage,
  response: ServerResponse,
  requestId: string,
  /** The body, when the caller has read it already (a form posted to another path, see judgeFormElsewhere). */
  bodyRead?: Buffer,
): Promise<void> {
  const started = performance.now();
  const now = context.clock();
  // Read once: a reload during this login must not change its rules or mode halfway.
  const policy = context.rules.policy;
  const ruleSet = policy.ruleSet;
  const config = context.config;
  // A login client on a listed origin reads riskgate's own responses only with CORS headers.
  const origin = request.headers.origin;
  if (origin !== undefined && route.corsOrigins.includes(origin)) allowOrigin(response, origin);
  const peer = parseAddress(request.socket.remoteAddress ?? '');
  const peerTrusted = peer !== undefined && context.trustedProxies.contains(peer);
  const client = resolveClientAddress(request.socket.remoteAddress, forwardedFor(request), context.trustedProxies);
  if (peerTrusted) warnMissingForwardedFor(context, request.socket.remoteAddress ?? '', request);

  // Its decision line would be lost, so a login is not forwarded while the log cannot be
  // written. The rejection's own line tries the log again, and its success ends the refusals.
  const logFailure = context.logWriteFailure();
  if (logFailure) {
    logRejection(context, request, requestId, client, 503, 'decision log unavailable');
    // The rejection line is dropped at a log.level above warn, so this line, written at any
    // level as decision lines are, is what tries the log again.
    decisionLogger(context.logger).warn({ http: { request: { id: requestId } } }, 'trying the decision log again after a failed write');
    sendProblem(response, 503, 'decision log unavailable',
      `the gateway cannot write its decision log (${logFailure.code ?? 'write failed'}), so logins are refused until it can; try again shortly`,
      true, {}, { 'retry-after': '5' });
    return;
  }

  // A compressed body is forwarded decoded: an app that does not decode request bodies
  // would otherwise parse the compressed bytes, where a second form can hide after the
  // stream or in a gzip header field.
  let body: Buffer;
  let rawUsername: string | undefined;
  // The normalised name, and the account it names (see accountOf), which keys everything.
  let name: string | undefined;
  // The name in the exact reading, which keeps apart spellings that counters merge.
  let exactName: string | undefined;
  let username: string | undefined;
  let loginHost: string | undefined;
  let carriesPassword = false;
  let passwordSent = false;
  let successFields = true;
  let usernameInQueryOnly = false;
  let failurePaths: string[] = [];
  let cookie = request.headers.cookie;
  try {
    const headerProblem = checkLoginHeaders(request) ?? checkCrossSite(request, route, peerTrusted);
    if (headerProblem) throw headerProblem;
    const received = bodyRead ?? await readBody(request, config.bodyLimitBytes);
    body = decodeContentEncoding(received, request.headers['content-encoding'], config.bodyLimitBytes);
    const parsed = parseLoginBody(body, request.headers['content-type'], route, queryOf(request.url));
    rawUsername = parsed.username;
    carriesPassword = parsed.password;
    passwordSent = parsed.passwordSent;
    successFields = parsed.successFields;
    usernameInQueryOnly = parsed.usernameInQueryOnly;
    failurePaths = parsed.failurePaths;
    // A password with no username at another path than the route's may name its account in
    // the path: CherryPy hands the `alice` of `/do_login/alice` to its handler's first
    // parameter, and an API may take it from `/users/alice/login`. Only an identifier-first
    // route, whose password step names no account anywhere, takes such a login.
    if (rawUsername === undefined && passwordSent && !route.identifierFirst && requestPath(request.url) !== route.path) {
      throw new RequestRejection(400, 'missing username',
        `the login sends "${route.passwordField}" but no "${route.usernameField}", at a path other than ${route.path}, where the app ` +
          'may read the account from the path; send the username in the body, or set identifier_first on the route if its password step names no account');
    }
    // A form read as ISO-8859-1 turns the UTF-8 bytes of letters such as Ä (C3 84) into Ã
    // and a C1 control character, which collations ignore and riskgate removes.
    const latin1Form = parsed.format === 'form' && route.formCharset === 'iso-8859-1';
    name = rawUsername === undefined ? undefined : usernameKey(rawUsername, config.username, latin1Form);
    const host = normalizeHost(tenantHost(request, peerTrusted, config.username));
    // A client chooses the Host it sends, so under a host scope each made-up host would be
    // a fresh account with its own limits, at a tenant the app finds by part of the name.
    if (config.username.scope === 'host' && !hostServed(host, config.username.hosts ?? [])) {
      throw new RequestRejection(421, 'unknown host',
        `riskgate serves logins of the hosts in username.hosts, and "${host.slice(0, 64)}" is not one; send the login to the app's own host`);
    }
    loginHost = host;
    // A page that rebinds its own name to the gateway's address makes its visitors' browsers
    // post same-origin logins there, which would count against their own addresses.
    // Both headers are checked, because a proxy that keeps the client's Host may also pass
    // on an X-Forwarded-Host that the page's own script set.
    if (config.hosts.length > 0) {
      const unserved = namedHosts(request, peerTrusted).find(({ host }) => !hostServed(host, config.hosts));
      if (unserved !== undefined) {
        throw new RequestRejection(421, 'unknown host',
          `the login names the host "${unserved.host.slice(0, 64)}" in ${unserved.header}, which is not in hosts, the hosts riskgate serves logins at; ` +
            'send the login to the site\'s own host, and list in hosts any name a proxy in front sends in Host');
      }
    }
    username = name ? accountOf(name, host, config.username) : name;
    // Apps that merge cookies into request parameters ($_REQUEST, Request[]) read them
    // whatever the body's type, and ignore a JSON body they do not parse.
    // A cookie is kept only when it names the login's account in the exact reading: one
    // that only the counters merge with it (`álice` beside `alice`) may be another account.
    exactName = rawUsername === undefined ? undefined : normalizeUsername(rawUsername, config.username, 'exact');
    const loginExact = exactName;
    cookie = removeConflictingLoginCookies(cookie, route, (value) => loginExact !== undefined &&
      excessiveExpansion(value, config.username) === undefined && normalizeUsername(value, config.username, 'exact') === loginExact).header;
    cookie = context.deviceCookies.withoutDeviceCookie(cookie);
    // The step-up cookie carries an assertion, which the app needs no copy of.
    cookie = withoutCookie(cookie, config.challenge.cookie);
  } catch (error) {
    if (!(error instanceof RequestRejection)) throw error;
    logRejection(context, request, requestId, client, error.status, error.title);
    // Closed, as every refusal is, so one connection cannot carry a flood of logged refusals.
    sendProblem(response, error.status, error.title, error.detail, true);
    return;
  }

  if (rawUsername === undefined && carriesPassword) warnMissingUsername(context, route, requestId);
  const pseudonym = username ? context.keys.pseudonymize(username) : undefined;
  // The account in the exact reading names the device cookie's account and the step-up's
  // subject, because the app may keep apart spellings that counters merge.
  const exactAccount = exactName === undefined ? undefined : accountOf(exactName, loginHost, config.username);
  const cookieAccount = pseudonym === undefined || exactAccount === undefined ? undefined : { pseudonym, exact: exactAccount };
  const device = await context.deviceCookies.read(request.headers.cookie, cookieAccount);
  const deviceId = device?.id;
  // The id a success's cookie will carry, chosen now so the profile learns that device.
  const issuedDeviceId = deviceId ?? randomUUID();
  const lookup = context.geo.lookup(client.address, client.private);
  const print = fingerprintRequest(request, route, client, name, deviceId !== undefined, lookup);

  let stepUp: StepUpResult | undefined;
  // The subject must name the login's account in the exact reading too: an account the app
  // keeps apart (`alıce` beside `alice`) must not pass the step-up of the one it merges with.
  const readSubject = (subject: string): string | undefined => {
    if (exactAccount === undefined || excessiveExpansion(subject, config.username) !== undefined) return undefined;
    if (normalizeAccountName(subject, config.username, 'exact') !== exactAccount) return undefined;
    return normalizeAccountName(subject, config.username);
  };
  const verifyAssertion = (assertion: string): Promise<StepUpResult> => (username && pseudonym
    ? context.stepUp.verify(assertion, username, pseudonym, readSubject)
    : Promise.resolve({ ok: false, reason: 'subject' }));
  const headerAssertion = headerValue(request, config.challenge.header);
  // A form login, which cannot send the header, carries its assertion in the step-up cookie.
  const cookieAssertions = cookieValues(request.headers.cookie, config.challenge.cookie);
  if (headerAssertion !== undefined) {
    stepUp = await verifyAssertion(headerAssertion);
  } else {
    // A sibling subdomain can plant cookies of that name, which the browser sends first. So
    // the first valid one counts and the others are ignored, because a planted cookie must
    // neither hide the owner's assertion nor turn an allowed login into a challenge.
    for (const assertion of cookieAssertions) {
      const result = await verifyAssertion(assertion);
      if (result.ok) {
        stepUp = result;
        break;
      }
    }
  }

  const parts: KeyParts = {
    ip: client.key,
    ip_prefix: client.prefix,
    username: username || undefined,
    device: deviceId,
    fingerprint: print.fingerprint,
    route: route.id,
  };
  const account = pseudonym
    ? { profile: profileKey(config.store.keyPrefix, pseudonym), counterIndex: counterIndexKey(config.store.keyPrefix, pseudonym) }
    : undefined;
  const plan = new CounterPlan(ruleSet.counters, parts, context.keys, config.store.keyPrefix, account);
  // The memory store's per-account claim limit counts the exact account, so a look-alike
  // account's own step-ups cannot use up the limit of the account it merges with.
  const claims = stepUp?.ok && exactAccount !== undefined
    ? [stepUpClaim(config.store.keyPrefix, stepUp, now, context.keys.counterDigest('claim.account', [exactAccount]))] : [];

  // Manual entries ride along in the same round trip, so a block added on any instance
  // applies to this login.
  // Concurrent logins that are judged but not yet written count too, on every gateway
  // sharing the store, so a burst of parallel guesses cannot all read the same count. A
  // mark whose write never comes lapses after the longest wait for the app's response.
  const { connectMs, responseMs } = config.upstreamTimeouts;
  const readRequest = plan.readRequest(now, claims,
    { id: requestId, member: pseudonym, ttlMs: connectMs + responseMs + PENDING_MARGIN_MS });
  const manualKeys = context.manual.lookupKeys(client.address, pseudonym);
  // A store that lost its data since the last check would take a used assertion's claim for
  // a new one, so a login with an assertion also reads the data-loss markers and the epoch.
  const markerKeys = stepUp?.ok ? context.dataLoss?.watchedKeys() ?? [] : [];
  readRequest.lookups = [...(readRequest.lookups ?? []), ...markerKeys, ...manualKeys];

  let reading;
  try {
    reading = await context.store.read(readRequest, route.onStoreError);
  } catch (error) {
    if (isRequestInvalid(error)) {
      // A retry sends the same request, so it would fail the same way: no Retry-After.
      logRejection(context, request, requestId, client, 500, 'risk store rejected the request');
      sendProblem(response, 500, 'login cannot be checked',
        'the risk store rejected a command for this login, and the error is logged for the operator');
      return;
    }
    logRejection(context, request, requestId, client, 503, 'risk store unavailable');
    sendProblem(response, 503, 'risk store unavailable',
      'the login cannot be checked right now because the risk store is unavailable; try again shortly',
      false, {}, { 'retry-after': '5' });
    return;
  }
  if (stepUp?.ok && reading.source === 'memory-fallback') {
    // Single use holds across the fleet only in the shared store; another instance's
    // fallback has never seen this assertion, so none is accepted during an outage.
    stepUp = { ok: false, reason: 'store_unavailable' };
  } else if (stepUp?.ok) {
    stepUp = applyClaimOutcome(stepUp, reading.result.claims[0]);
    if (!stepUp.ok && stepUp.reason !== 'replay') logClaimRejection(context, requestId, stepUp.reason);
    const markers = reading.result.values.slice(-(markerKeys.length + manualKeys.length), -manualKeys.length || undefined);
    // The epoch comes last: a loss that another gateway noticed applies here at once.
    if (markers.length > 0) context.dataLoss?.observeEpoch(markers.at(-1));
    if (stepUp.ok && markers.some((value) => value === null)) {
      // A marker is gone, so the claim just made may be one the store lost. The check logs the
      // loss and records its time, which rejects the assertions of the logins after this one.
      void context.dataLoss?.check();
      stepUp = { ok: false, reason: 'issued_before_store_loss' };
    }
    // Right after a start or a reconnect, the first check may not have read the store's epoch
    // yet, and without it a claim lost before the start would pass.
    if (stepUp.ok && context.dataLoss && !context.dataLoss.ready) {
      await context.dataLoss.check();
      if (!context.dataLoss.ready) stepUp = { ok: false, reason: 'store_unavailable' };
    }
    // Redis evicts a used claim before the markers, so the eviction counts are read too.
    if (stepUp.ok) await context.dataLoss?.checkServers();
    stepUp = rejectIssuedBeforeLoss(stepUp, context.dataLoss?.cutoff);
    stepUp = rejectIssuedBeforeStart(stepUp, context.memoryStoreSince);
  }

  const counts = plan.countsByName(plan.pendingCounts(reading.result));
  const counterValues = countersToCel(counts);
  const assessment = context.accountRisk.assess(
    // A device is known to an account only through a cookie that vouches for it, so one
    // earned on another account and planted in the owner's browser stays a new device.
    { client, lookup, userAgent: print.userAgent, deviceId: device?.bound ? deviceId : undefined,
      spelling: exactAccount === undefined ? undefined : spellingTag(exactAccount, context.keys) },
    account ? reading.result.hashes[0] : undefined, now);
  Object.assign(print.signals, assessment.signals);
  const evaluation = evaluateRules(ruleSet, print.signals, counterValues, policy.mode);
  if (evaluation.errored.length > 0) context.ruleErrors.report(evaluation.outcomes, requestId, ruleSet.version);
  const manual = await context.manual.match(
    reading.result.values.slice(-manualKeys.length), client.address, pseudonym, reading.source, now);
  // A gateway in monitor mode forwards every login, one with a failed step-up too, because
  // its MFA page may not exist yet. The decision line still shows the step-up's result.
  const ruleDecision = policy.mode === 'monitor' ? evaluation.decision : applyStepUp(evaluation.decision, stepUp, config.challenge.mode);
  const decision = manual?.action ?? ruleDecision;
  const teaches = successTeaches({ decision, wouldDecision: evaluation.wouldDecision, manual, stepUp }, config.challenge.mode);
  const decisionMs = performance.now() - started;

  const record: LoginRecord = {
    requestId,
    method: request.method ?? '',
    path: loggedLoginPath(request.url, context.routes),
    routeId: route.id,
    client,
    geo: print.geo,
    userAgent: request.headers['user-agent'] ?? '',
    userAgentSignals: print.userAgent,
    username,
    pseudonym,
    devicePseudonym: deviceId ? context.keys.pseudonymizeDevice(deviceId) : undefined,
    startedAt: now,
    signals: print.signals,
    counters: counts,
    evaluation,
    decision,
    manual,
    ruleSetVersion: ruleSet.version,
    store: reading.source,
    stepUp: stepUp ? (stepUp.ok ? { ok: true } : { ok: false, reason: stepUp.reason }) : undefined,
    outcome: 'unknown',
    decisionMs,
  };

  let line: Record<string, unknown> | undefined;
  const logDecision = () => {
    // Only a success the app confirmed teaches the profile, so failed guesses cannot shape it,
    // and only for a login the rules would allow (see successTeaches).
    record.learned = record.upstreamMs !== undefined && record.outcome === 'success' && pseudonym !== undefined && teaches;
    return (line ??= writeDecisionLine(context.logger, record, config.log.username));
  };
  // The decision line is written before the client has its response, so a script that reads
  // the log once it has the response finds the line there.
  if (decision === 'block') {
    const retryAfterMs = manual ? undefined : evaluation.retryAfterMs;
    record.outcome = 'failure';
    record.statusCode = blockStatus(context, retryAfterMs);
    logDecision();
    sendBlock(context, response, retryAfterMs);
  } else if (decision === 'challenge' && config.challenge.mode === 'step-up' && pseudonym === undefined) {
    // A step-up assertion names the account, and this login names none, so no assertion could pass.
    record.outcome = 'failure';
    record.statusCode = 401;
    logDecision();
    sendProblem(response, 401, 'step-up required',
      `this login must pass a step-up, which needs an account: send the username in the field "${route.usernameField}"`);
  } else if (decision === 'challenge' && config.challenge.mode === 'step-up') {
    // A browser that posted an HTML form would show the challenge's JSON as a page with no
    // way on, so it is sent to the MFA page instead.
    const navigation = isNavigation(request);
    record.outcome = 'failure';
    record.statusCode = navigation ? 303 : 401;
    const challengeId = await context.stepUp.issueChallenge(pseudonym ?? '');
    logDecision();
    sendChallenge(context, response, challengeId, navigation);
  } else {
    await forwardLogin(context, route, request, response, body, record,
      { client, peerTrusted, device: teaches ? { id: issuedDeviceId, accounts: device?.accounts ?? [], account: cookieAccount } : undefined, cookie,
        clearStepUpCookie: cookieAssertions.length > 0, carriesPassword, passwordSent, successFields, usernameInQueryOnly, failurePaths },
      logDecision);
  }

  // Only the app's own answer counts as a success or failure; a block or challenge that
  // never reached the app counts as an attempt alone.
  const forwarded = record.upstreamMs !== undefined;
  logDecision();
  const learned = record.learned && pseudonym
    ? context.accountRisk.profileWrite(config.store.keyPrefix, pseudonym, assessment, issuedDeviceId, now)
    : undefined;
  // A success clears the account's failure streak from this address only when the counters
  // read the name as it was spelled. The app may keep `álice` apart from `alice`, and the
  // owner of `álice` must not wipe the streak of guesses at alice between two guesses.
  // NOTE: the owner of a plain `jose` can still clear the streak of guesses at `josé`.
  const clearsStreak = exactAccount !== undefined && exactAccount === username;
  const write = plan.writeRequest(now, countedOutcome(record, forwarded), pseudonym, learned, clearsStreak);
  context.accountRisk.frequencies.observe(assessment.features);
  await context.store.write(write, reading.source);
  context.webhook?.enqueue(record.decision, logDecision());
  context.metrics.observeDecision(record);
}

async function forwardLogin(
  context: GatewayContext,
  route: LoginRoute,
  request: IncomingMessage,
  response: ServerResponse,
  body: Buffer,
  record: LoginRecord,
  /**
   * `device` is the id and accounts a success's device cookie carries, or undefined when a success earns
   * none. `cookie` is the Cookie header to forward, without cookies that name another account.
   * `carriesPassword` is true when the login fills the route's password field (see outcomeOf),
   * and `passwordSent` when some reading of that field contains a password.
   */
  origin: {
    client: ClientAddress;
    peerTrusted: boolean;
    device: { id: string; accounts: readonly string[]; account: CookieAccount | undefined } | undefined;
    cookie: string | undefined;
    /** Whether the response clears the step-up cookie, because the login carried one. */
    clearStepUpCookie: boolean;
    carriesPassword: boolean;
    passwordSent: boolean;
    successFields: boolean;
    /** Whether only the query string named the username (see ParsedLogin). */
    usernameInQueryOnly: boolean;
    /** The page the login names for a failure redirect (Symfony's `_failure_path`). */
    failurePaths: readonly string[];
  },
  logDecision: () => void,
): Promise<void> {
  const config = context.config;
  const headers = upstreamRequestHeaders(request, {
    client: origin.client,
    peerTrusted: origin.peerTrusted,
    passPrefix: config.forwardedPrefix === 'pass',
    requestId: record.requestId,
    strip: new Set([config.challenge.header.toLowerCase(), RISK_HEADER, 'content-encoding']),
    hop: context.hop,
  });
  if (origin.cookie === undefined) delete headers.cookie;
  else headers.cookie = origin.cookie;
  // The app reads the tenant from Host or X-Forwarded-Host, so both name the one judged.
  if (config.username.scope === 'host') headers['x-forwarded-host'] = tenantHost(request, origin.peerTrusted, config.username);
  for (const name of fieldHeaders(headers, route)) delete headers[name];
  if (record.decision === 'challenge') {
    headers[RISK_HEADER] = await signRiskHeader(context, record);
  }

  const referer = readReferer(request);
  // A routing parameter makes a front controller run another route at the login's own path.
  const exactPath = requestPath(request.url) === route.path &&
    !carriesRoutingParameter(request.url ?? '/', body, request.headers['content-type']);
  const classify = (status: number, location: string | undefined, contentType: string | undefined): OutcomeReading =>
    withoutChosenFailurePath(
      withoutHtmlSuccess(outcomeOf(classifyResponse(status, location, route, referer), route, origin, exactPath), status, contentType, route),
      location, origin.failurePaths);
  const device = origin.device;
  // The app's response carries the app's own CORS headers, not riskgate's.
  withdrawOrigin(response);
  const result = await forwardRequest(context.upstream, request, response, {
    headers,
    body,
    extraResponseHeaders: async (status, location, contentType) => [
      ...(device !== undefined && classify(status, location, contentType).outcome === 'success'
        ? ['Set-Cookie', await context.deviceCookies.issue(device.id, device.accounts, device.account)]
        : []),
      ...(origin.clearStepUpCookie ? ['Set-Cookie', clearStepUpCookie(config.challenge.cookie, config.deviceCookie.secure)] : []),
    ],
    // The decision line is written before the client sees the end of the response.
    beforeEnd: (answered) => {
      recordAnswer(context, route, record, answered, response, classify);
      logDecision();
    },
  });
  recordAnswer(context, route, record, result, response, classify);
}

/**
 * Withhold a success from a login that does not fill the route's password field when the
 * route requires one. The app's 2xx is then the result of something other than a password check, such
 * as a reset request below the login path or the username step of an identifier-first
 * login. Learning it would let anyone without the password claim an account's first
 * success, earn a device cookie known to the account, and reset the failure counters.
 */
function outcomeOf(
  reading: OutcomeReading,
  route: LoginRoute,
  login: { carriesPassword: boolean; passwordSent: boolean; successFields: boolean; usernameInQueryOnly: boolean },
  exactPath: boolean,
): OutcomeReading {
  if (reading.outcome !== 'success') return reading;
  if (!login.carriesPassword && route.requirePassword) {
    return { outcome: 'unknown', reason: login.passwordSent ? 'password_ambiguous' : 'no_password' };
  }
  if (!login.successFields) return { outcome: 'unknown', reason: 'field_not_listed' };
  if (login.usernameInQueryOnly) return { outcome: 'unknown', reason: 'username_in_query' };
  // riskgate judges every path the app might route to the login handler (`/login/`,
  // `/LOGIN`, `/login.json`, `/login/x`, `/?q=login`), but an app may serve a page of its
  // own there, as a front controller does for `/login?q=node`. A 2xx there proves nothing
  // about the password. So only a login at the route's own path, naming no other route,
  // can succeed, while failures count wherever they happen.
  if (!exactPath) return { outcome: 'unknown', reason: 'path_variant' };
  return reading;
}

/**
 * Read a success as `unknown` when its redirect goes where the login asked the app to send
 * a failure. Symfony's form login redirects a failure to the request's `_failure_path`, so a
 * client that names a success page there makes every wrong password look like a success.
 * A value that is no path or URL is a route name, whose URL riskgate cannot know.
 */
function withoutChosenFailurePath(reading: OutcomeReading, location: string | undefined, failurePaths: readonly string[]): OutcomeReading {
  if (reading.outcome !== 'success' || location === undefined || failurePaths.length === 0) return reading;
  const target = pathAndQuery(location);
  // Symfony puts the app's base URL (its folder, or X-Forwarded-Prefix) before a path that
  // starts with `/`, so the redirect may end with the named path rather than equal it.
  const chosen = failurePaths.some((path) => {
    const named = /^(\/|https?:)/i.test(path) ? pathAndQuery(path) : undefined;
    return named === undefined || target === undefined || target === named || target.endsWith(named);
  });
  return chosen ? { outcome: 'unknown', reason: 'failure_path_chosen' } : reading;
}

/** Return the path and query of a URL or path, or undefined when it does not parse. */
function pathAndQuery(value: string): string | undefined {
  try {
    const url = new URL(value, 'http://riskgate.invalid');
    return `${url.pathname}${url.search}`;
  } catch {
    return undefined;
  }
}

/** Return a request target's path as sent, without its query. */
function requestPath(url: string | undefined): string {
  const target = url ?? '/';
  const query = target.indexOf('?');
  return query === -1 ? target : target.slice(0, query);
}

/** Put the app's response, or why there was none, on the login's record. */
function recordAnswer(
  context: GatewayContext,
  route: LoginRoute,
  record: LoginRecord,
  result: ForwardResult,
  response: ServerResponse,
  classify: (status: number, location: string | undefined, contentType: string | undefined) => OutcomeReading,
): void {
  if (record.upstreamMs !== undefined) return;
  record.upstreamMs = result.upstreamMs;
  // A client that left before the app's status sent nothing, so no status is logged.
  record.statusCode = result.error?.kind === 'aborted' || !result.error || result.status !== undefined
    ? result.status
    : response.statusCode;
  if (result.error?.kind === 'aborted') {
    // A client that hangs up after the status line has read how its guess went, so the
    // app's status still counts, and the app is not blamed.
    if (result.status === undefined) {
      record.outcome = 'unknown';
    } else {
      ({ outcome: record.outcome, reason: record.outcomeReason } = classify(result.status, result.location, result.contentType));
    }
  } else if (result.error) {
    record.outcome = 'unknown';
    record.upstreamError = result.error.kind;
    if (result.status !== undefined) {
      // The app sent its status, so it checked the guess, and a failure counts. A success does
      // not, since the app's response to it is broken.
      const reading = classify(result.status, result.location, result.contentType);
      if (reading.outcome !== 'success') ({ outcome: record.outcome, reason: record.outcomeReason } = reading);
      record.statusFromApp = true;
    }
    context.logger.error(
      { upstream: context.upstream.url.origin, http: { request: { id: record.requestId } }, err: { message: result.error.message } },
      `upstream ${result.error.kind === 'timeout' ? 'timed out' : 'request failed'}`,
    );
  } else if (result.status !== undefined) {
    ({ outcome: record.outcome, reason: record.outcomeReason } = classify(result.status, result.location, result.contentType));
    if (record.outcome === 'unknown' && result.status >= 300 && result.status < 400) warnUnclassifiedRedirect(context, route, record, result);
    if (record.outcomeReason === 'html_page') warnHtmlPage(context, route, result);
    if (record.outcomeReason === 'path_variant') warnVariantPath(context, route, record);
  }
}

/**
 * Warn once per route when a login fills the password field but not the username field,
 * since the route's `username_field` then most likely names another field than the app's
 * form (WordPress posts `log`), and no account rule can apply.
 */
function warnMissingUsername(context: GatewayContext, route: LoginRoute, requestId: string): void {
  if (context.missingUsernameRoutes.has(route.id)) return;
  context.missingUsernameRoutes.add(route.id);

  context.logger.warn(
    { riskgate: { route: route.id }, http: { request: { id: requestId } } },
    `a login on route ${route.id} fills the password field "${route.passwordField}" but has no username field ` +
      `"${route.usernameField}", so no account rule applies to it; set username_field to the field the login form posts`,
  );
}

/**
 * Warn once per route when a login at another reading of its path succeeded, since an app
 * whose form posts to that path would otherwise never teach a profile.
 */
function warnVariantPath(context: GatewayContext, route: LoginRoute, record: LoginRecord): void {
  if (context.variantPathRoutes.has(route.id)) return;
  context.variantPathRoutes.add(route.id);

  context.logger.warn(
    { riskgate: { route: route.id }, http: { request: { id: record.requestId } }, url: { path: record.path.slice(0, 256) } },
    `the app answered a login on route ${route.id} at a path other than ${route.path}, or with a routing parameter ` +
      'such as q, r or rest_route, with success, which counts as unknown because the app may not have run its login ' +
      'handler there; if the login form posts to that path, set it as the route path',
  );
}

/**
 * Warn once per route when the app redirects a login and the route lists no location,
 * since a form-login app's outcomes then teach nothing and count as no failure.
 */
function warnUnclassifiedRedirect(context: GatewayContext, route: LoginRoute, record: LoginRecord, result: ForwardResult): void {
  if (route.successLocation.length > 0 || route.failureLocation.length > 0) return;
  if (context.unclassifiedRedirectRoutes.has(route.id)) return;
  context.unclassifiedRedirectRoutes.add(route.id);

  // Only a log that shows usernames may show one in a path.
  const target = redirectTargetPath(result.location, {
    username: record.username,
    showUsername: context.config.log.username === 'plain',
    known: new Set([route.path, ...route.successLocation, ...route.failureLocation]
      .flatMap((path) => path.toLowerCase().split('/')).filter((segment) => segment !== '')),
  });
  context.logger.warn(
    { riskgate: { route: route.id }, http: { response: { status_code: result.status } } },
    `the app answered a login on route ${route.id} with a redirect${target ? ` to ${target}` : ''}, which counts as neither ` +
      'success nor failure: list the page a success goes to under success_location and the failure page under failure_location',
  );
}

/**
 * Warn once per route when an HTML page in a 2xx counts as no success because the route
 * leaves `success_status` at its default. Apps that re-render their login form after a
 * wrong password send such a page, so it proves nothing until the route sets `success_status`.
 */
function warnHtmlPage(context: GatewayContext, route: LoginRoute, result: ForwardResult): void {
  if (context.htmlSuccessRoutes.has(route.id)) return;
  context.htmlSuccessRoutes.add(route.id);
  context.logger.warn(
    { riskgate: { route: route.id }, http: { response: { status_code: result.status } } },
    `the app answered a login on route ${route.id} with an HTML page and status ${result.status}, which counts as ` +
      'neither success nor failure: if the app answers a successful login that way, set success_status on the route, ' +
      'and add the status of its re-rendered form after a wrong password to failure_status',
  );
}

/** Return the path of a Location value without its query, cut to 100 characters, for a log line. */
function redirectTargetPath(location: string | undefined, options: Parameters<typeof loggedRedirectPath>[1]): string | undefined {
  if (location === undefined) return undefined;
  try {
    return sanitizeLogValue(loggedRedirectPath(new URL(location, 'http://location.invalid').pathname, options).slice(0, 100)).text;
  } catch {
    return undefined;
  }
}

function blockStatus(context: GatewayContext, retryAfterMs: number | undefined): 403 | 429 {
  return retryAfterMs !== undefined || context.config.block.status === 429 ? 429 : 403;
}

function sendBlock(context: GatewayContext, response: ServerResponse, retryAfterMs: number | undefined): void {
  // The body names no rule. Retry-After is the rule's retry_after, which may still tell rules apart.
  const detail = 'this login was refused; try again later';
  if (blockStatus(context, retryAfterMs) === 429) {
    const seconds = Math.ceil((retryAfterMs ?? context.config.block.retryAfterMs) / 1000);
    sendProblem(response, 429, 'too many login attempts', detail, false, {}, { 'retry-after': String(seconds) });
    return;
  }
  sendProblem(response, 403, 'login refused', detail);
}

/**
 * Add the challenge id to the query of `mfa_url`, before any fragment: a parameter after
 * `#` never reaches the MFA service, which would then find no challenge.
 */
export function challengeUrl(mfaUrl: string, id: string): string {
  const hash = mfaUrl.indexOf('#');
  const base = hash === -1 ? mfaUrl : mfaUrl.slice(0, hash);
  const fragment = hash === -1 ? '' : mfaUrl.slice(hash);
  const separator = !base.includes('?') ? '?' : base.endsWith('?') || base.endsWith('&') ? '' : '&';
  return `${base}${separator}challenge=${encodeURIComponent(id)}${fragment}`;
}

/**
 * Tell whether a login is a browser's navigation, such as an HTML form's post, whose
 * response the browser shows as the next page. Chrome, Firefox and Safari (since 16.4)
 * send `Sec-Fetch-Mode: navigate` for it. Without that header, a form body from a client
 * that accepts HTML counts as one.
 */
export function isNavigation(request: IncomingMessage): boolean {
  const mode = request.headers['sec-fetch-mode'];
  if (mode !== undefined) return mode === 'navigate';
  const type = (request.headers['content-type'] ?? '').toLowerCase();
  const form = type.startsWith('application/x-www-form-urlencoded') || type.startsWith('multipart/form-data');
  return form && (request.headers.accept ?? '').toLowerCase().includes('text/html');
}

function sendChallenge(context: GatewayContext, response: ServerResponse, id: string, navigation: boolean): void {
  const config = context.config.challenge;
  const location = challengeUrl(config.mfaUrl, id);
  sendProblem(response, navigation ? 303 : 401, 'step-up required',
    `complete the step-up at mfa_url, then repeat the login with the assertion in the ${config.header} header`,
    false,
    {
      challenge: {
        id,
        methods: ['totp'],
        mfa_url: location,
        header: config.header,
        expires_in: Math.ceil(config.ttlMs / 1000),
      },
    },
    navigation ? { location } : { 'www-authenticate': `${config.header} realm="riskgate"` },
  );
}

async function signRiskHeader(context: GatewayContext, record: LoginRecord): Promise<string> {
  const now = Math.floor(context.clock() / 1000);
  const claims = {
    decision: record.evaluation.decision,
    score: record.evaluation.score,
    rules: record.evaluation.fired,
    request_id: record.requestId,
    sub: record.pseudonym ?? '',
    iss: 'riskgate',
    iat: now,
    exp: now + 60,
  };
  return signHs256(claims, context.keys.riskHeader);
}

function logRejection(
  context: GatewayContext,
  request: IncomingMessage,
  requestId: string,
  client: ClientAddress,
  status: number,
  reason: string,
): void {
  context.metrics.loginRejections.labels(String(status)).inc();
  context.logger.warn(
    {
      event: { kind: 'event', category: ['authentication'], action: 'login-rejected', outcome: 'failure' },
      source: { ip: client.address },
      http: { request: { id: requestId, method: request.method }, response: { status_code: status } },
      url: { path: sanitizeLogValue(loggedLoginPath(request.url, context.routes)).text },
      riskgate: { rejection: reason },
    },
    'login rejected',
  );
}

/**
 * Log a valid assertion that the memory store could not claim because its claim table, or
 * the account's share of it, is full. The line names no account: the decision line of the
 * same request id carries it as `log.username` allows.
 */
function logClaimRejection(context: GatewayContext, requestId: string, reason: StepUpFailure): void {
  const message = reason === 'claim_table_full'
    ? 'step-up claim table is full; valid assertions are rejected until claims expire'
    : 'account holds its maximum of live step-up claims; its assertions are rejected until one expires';
  context.logger.warn(
    { http: { request: { id: requestId } }, riskgate: { step_up: { reason } } },
    message,
  );
}

function forwardedFor(request: IncomingMessage): string | undefined {
  const value = request.headers['x-forwarded-for'];
  return Array.isArray(value) ? value.join(',') : value;
}

function headerValue(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Return every host a login names, with its header: Host, and each entry of a trusted
 * proxy's X-Forwarded-Host. riskgate replaces an untrusted client's X-Forwarded-Host with
 * its Host before forwarding, so the app never reads that one.
 */
function namedHosts(request: IncomingMessage, peerTrusted: boolean): { header: string; host: string }[] {
  const named = [{ header: 'Host', host: normalizeHost(request.headers.host ?? '') }];
  const forwarded = request.headers['x-forwarded-host'];
  if (!peerTrusted || forwarded === undefined) return named;

  for (const value of [forwarded].flat()) {
    for (const entry of value.split(',')) named.push({ header: 'X-Forwarded-Host', host: normalizeHost(entry) });
  }
  return named;
}

/**
 * Return the host a login's tenant is read from under `username.scope: host`: the Host
 * header, or with `host_header: x-forwarded-host` a trusted proxy's X-Forwarded-Host. A
 * proxy that passes a client's X-Forwarded-Host on would otherwise let the client choose it.
 */
function tenantHost(request: IncomingMessage, peerTrusted: boolean, options: UsernameNormalization): string {
  return options.hostHeader === 'x-forwarded-host' ? forwardedHost(request, peerTrusted) : request.headers.host ?? '';
}

/** Return a request target's query, without the `?`. */
export function queryOf(url: string | undefined): string {
  const start = (url ?? '').indexOf('?');
  return start === -1 ? '' : (url ?? '').slice(start + 1);
}

/**
 * Return the names of headers that Spring MVC 6.2 binds to the route's username or password
 * field. Its data binder fills a form object's properties from request headers too, with
 * the dashes of a header's name removed, when no request parameter has the property's name.
 * So `User-Name: victim` names the account of a login whose body has no username.
 */
function fieldHeaders(headers: Record<string, unknown>, route: LoginRoute): string[] {
  const fields = new Set([fieldHeaderName(route.usernameField), fieldHeaderName(route.passwordField)]);
  return Object.keys(headers).filter((name) => fields.has(fieldHeaderName(name)));
}

/**
 * Return a login's outcome as counters count it, or `none` when the app checked no password.
 * That is a login riskgate did not forward or the app sent no status to (see appAnswered),
 * and one that filled no password in any reading (see checkedNoPassword).
 */
function countedOutcome(record: LoginRecord, forwarded: boolean): CountedOutcome {
  if (!forwarded || record.statusCode === undefined) return 'none';
  if (!appAnswered(record.upstreamError) && !record.statusFromApp) return 'none';
  if (checkedNoPassword(record.outcomeReason)) return 'none';
  return record.outcome;
}

/** Return a character's code point as Unicode writes it, such as U+001B. */
function codePointLabel(character: string): string {
  return `U+${character.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Control characters other than tab, line feed, vertical tab, form feed and carriage return, which are white space. */
const CONTROL_IN_NAME = /[\x01-\x08\x0e-\x1f\x7f-\x9f]/;
const C0_CONTROL_IN_NAME = /[\x01-\x08\x0e-\x1f\x7f]/;

/**
 * Normalise a login's username, or refuse one that NFKC would blow up (see
 * excessiveExpansion) or that contains markup (see usernameMarkup). `latin1Form` lets C1
 * control characters through, which a form read as ISO-8859-1 carries for every UTF-8 letter
 * whose second byte is 0x80 to 0x9F.
 */
function usernameKey(raw: string, options: UsernameNormalization, latin1Form = false): string {
  // An app that reads the name as a C string (libpq's text parameters, PAM, the LDAP C API)
  // cuts it at a NUL, where riskgate would read the rest as part of another account.
  if (raw.includes('\u0000')) {
    throw new RequestRejection(400, 'invalid username',
      'the username contains a NUL character, at which apps that read it as a C string cut it; send the name without it');
  }
  // Apps read the other controls three ways: collations ignore them, exact comparisons keep
  // them, and Python's strip removes \x1c to \x1f and U+0085 at the ends. People do not type them.
  const control = (latin1Form ? C0_CONTROL_IN_NAME : CONTROL_IN_NAME).exec(raw);
  if (control) {
    throw new RequestRejection(400, 'invalid username',
      `the username contains the control character ${codePointLabel(control[0])}, which apps delete, keep or trim differently; send the name without it`);
  }
  const unassigned = unassignedCodePoint(raw, options);
  if (unassigned !== undefined) {
    throw new RequestRejection(400, 'invalid username',
      `the username contains ${codePointLabel(unassigned)}, which Unicode assigns no character and SQL Server's collations ignore; ` +
        'send the name without it, or set username.collation to uca for an app that compares names by a Unicode collation');
  }
  const letter = supplementaryLetter(raw, options);
  if (letter !== undefined) {
    throw new RequestRejection(400, 'invalid username',
      `the username contains ${codePointLabel(letter.character)}, which Unicode collations read as "${letter.reading}" and SQL Server's default collations ignore; ` +
        'send the name in plain letters, or set username.collation to uca for an app that compares names by a Unicode collation');
  }
  const run = longMarkRun(raw);
  if (run !== undefined) {
    throw new RequestRejection(400, 'invalid username',
      `the username has a run of ${run} combining marks, more than the ${MAX_MARK_RUN} that Unicode's stream-safe text allows; send the name without them`);
  }
  const expanded = excessiveExpansion(raw, options);
  if (expanded !== undefined) {
    throw new RequestRejection(400, 'invalid username',
      `the username has ${raw.length} characters and NFKC expands them to ${expanded}; ` +
        `a username that grows past ${MAX_EXPANDED_USERNAME} characters to more than twice its length is refused`);
  }
  const name = normalizeUsername(raw, options);
  // Apps that compare by a collation read such a name as empty, and other apps as written.
  if (name === '' && raw.trim() !== '') {
    throw new RequestRejection(400, 'invalid username',
      'the username is only characters that collations ignore (zero-width characters, or emoji under username.collation any); send a name with letters or digits');
  }
  // WordPress removes escapes and entities after it reads accents as ASCII, so `al%ààice`
  // is `al%aaice` and then `alice` there: the normalised name is checked too.
  const markup = options.markup === 'refuse' ? usernameMarkup(raw) ?? usernameMarkup(name) : undefined;
  if (markup !== undefined) {
    throw new RequestRejection(400, 'invalid username',
      `the username contains "${markup.slice(0, 16)}", markup that apps such as WordPress remove before they look the account up; ` +
        'send the account name as it is, or set username.markup to keep for an app that reads it as written');
  }
  return name;
}
