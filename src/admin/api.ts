import type { IncomingMessage, ServerResponse } from 'node:http';

import { parseDurationMs } from '../config/duration.js';
import type { GatewayContext } from '../proxy/context.js';
import { HOST_SCOPE_HINT, normalizeAccountName } from '../request/account-name.js';
import { eraseAccount, exportAccount } from './accounts.js';
import { loggableEntryId, type AuditAction } from './audit.js';
import { canonicalCidr, parseClientAddress, readCounters, resolveTarget } from './counters.js';
import type { TrustedProxies } from '../request/client-ip.js';
import { AdminProblem, optionalString, readJsonObject, sendJson } from './http.js';
import { MAX_ENTRY_TTL_MS, MAX_MANUAL_ENTRIES, ManualEntryStore, type ManualEntry } from './manual-entries.js';

/** A handler's part of the audit line; the router adds the request, the actor and the outcome. */
export type AuditNote = Omit<AuditAction, 'actor' | 'status' | 'outcome'>;

export interface ApiRequest {
  request: IncomingMessage;
  response: ServerResponse;
  /** Path below `/v1/`, split on `/` and percent-decoded. */
  segments: string[];
  query: URLSearchParams;
  actor: string;
  now: number;
}

export type ApiHandler = (context: GatewayContext, call: ApiRequest) => Promise<AuditNote>;

const MAX_REASON_LENGTH = 500;

/** Find the handler for a method and path below `/v1/`; `allowed` lists the methods of a known path. */
export function routeApi(method: string, segments: string[]): { handler?: ApiHandler; allowed: string[] } {
  const methods = endpointMethods(segments);
  return { handler: Object.hasOwn(methods, method) ? methods[method] : undefined, allowed: Object.keys(methods) };
}

function endpointMethods(segments: string[]): Partial<Record<string, ApiHandler>> {
  const path = segments.length === 2 && segments[0] === 'manual-entries' ? 'manual-entries/{id}' : segments.join('/');
  switch (path) {
    case 'manual-entries':
      return { GET: listEntries, POST: addEntry };
    case 'manual-entries/{id}':
      return { DELETE: removeEntry };
    case 'counters/lookup':
      return { POST: lookupCounters };
    case 'accounts/export':
      return { POST: exportHandler };
    case 'accounts/erase':
      return { POST: eraseHandler };
    default:
      return {};
  }
}

async function listEntries(context: GatewayContext, call: ApiRequest): Promise<AuditNote> {
  const action = call.query.get('action');
  const type = call.query.get('type');
  // A filter value that matches no entry would list nothing, which reads as "no entries".
  if (action !== null && action !== 'block' && action !== 'allow') {
    throw new AdminProblem(400, 'invalid filter', 'the action filter must be block or allow, in lower case');
  }
  if (type !== null && type !== 'ip' && type !== 'cidr' && type !== 'username') {
    throw new AdminProblem(400, 'invalid filter', 'the type filter must be ip, cidr or username, in lower case');
  }
  const entries = (await entryStore(context).list(call.now)).filter(
    (entry) => (action === null || entry.action === action) && (type === null || entry.type === type),
  );
  sendJson(call.response, 200, { entries });
  return { action: 'manual-entry-list', category: 'configuration', type: 'access', details: { entries: entries.length } };
}

async function addEntry(context: GatewayContext, call: ApiRequest): Promise<AuditNote> {
  const body = await readJsonObject(call.request);
  const action = body.action;
  if (action !== 'block' && action !== 'allow') {
    throw new AdminProblem(400, 'invalid request body', 'action must be "block" or "allow"');
  }
  const target = entryTarget(context, body);
  const expiresAt = entryExpiry(body, call.now);
  const reason = optionalString(body, 'reason', MAX_REASON_LENGTH)?.trim();
  if (!reason) throw new AdminProblem(400, 'invalid request body', 'reason is missing: say why, for the audit trail');

  const entry: ManualEntry = {
    id: `${target.type}:${target.value}`,
    action,
    type: target.type,
    value: target.value,
    reason,
    created_at: new Date(call.now).toISOString(),
    expires_at: new Date(expiresAt).toISOString(),
    created_by: call.actor,
  };
  const entries = entryStore(context);
  // Each target has one entry, so an allow replaces a block of the same address. The reply
  // and the audit line name the entry replaced.
  const existing = await entries.list(call.now);
  if (!existing.some((other) => other.id === entry.id) && existing.length >= MAX_MANUAL_ENTRIES) {
    throw new AdminProblem(409, 'too many manual entries',
      `${existing.length} manual entries are live, the maximum is ${MAX_MANUAL_ENTRIES}; ` +
        'remove expired or unneeded entries, or put many addresses in an IP list file');
  }
  const previous = await entries.put(entry, call.now);
  const replaced = previous ? { action: previous.action, reason: previous.reason, expires_at: previous.expires_at } : undefined;
  sendJson(call.response, 201, replaced ? { entry, replaced } : { entry });
  return {
    action: 'manual-entry-add',
    category: 'configuration',
    type: 'creation',
    target,
    details: { entry_action: action, expires_at: entry.expires_at, reason, ...(replaced ? { replaced_action: replaced.action } : {}) },
  };
}

async function removeEntry(context: GatewayContext, call: ApiRequest): Promise<AuditNote> {
  const id = call.segments[1];
  const shownId = loggableEntryId(id);
  if (shownId !== id) {
    // The error detail is logged, so it names no username.
    throw new AdminProblem(404, 'manual entry not found',
      `no manual entry has the id "${shownId}": ids are ip:<address>, cidr:<network> or username:<pseudonym>, ` +
        'never the username; GET /v1/manual-entries lists the ids');
  }
  const removed = await entryStore(context).remove(id, call.now);
  if (!removed) {
    throw new AdminProblem(404, 'manual entry not found',
      `no manual entry has the id "${id.slice(0, 80)}"; GET /v1/manual-entries lists them`);
  }
  sendJson(call.response, 200, { removed });
  return {
    action: 'manual-entry-remove',
    category: 'configuration',
    type: 'deletion',
    target: { type: removed.type, value: removed.value },
    details: { entry_action: removed.action },
  };
}

async function lookupCounters(context: GatewayContext, call: ApiRequest): Promise<AuditNote> {
  const body = await readJsonObject(call.request);
  const { parts, display } = resolveTarget(context, {
    ip: optionalString(body, 'ip', 64),
    username: optionalString(body, 'username'),
    route: optionalString(body, 'route', 64),
  });
  const { counters, notRead } = await readCounters(context, parts, call.now);
  const ids = new Set([display.ip ? `ip:${display.ip}` : '', display.username ? `username:${display.username}` : '']);
  const entries = (await entryStore(context).list(call.now)).filter((entry) => ids.has(entry.id));

  sendJson(call.response, 200, {
    target: display,
    rule_set: context.rules.current.version,
    counters,
    not_read: notRead,
    manual_entries: entries,
  });
  return {
    action: 'counters-lookup',
    category: 'iam',
    type: 'access',
    target: display.username ? { type: 'username', value: display.username } : { type: 'ip', value: display.ip ?? '' },
  };
}

async function exportHandler(context: GatewayContext, call: ApiRequest): Promise<AuditNote> {
  const username = requiredUsername(await readJsonObject(call.request));
  const result = await exportAccount(context, username, call.now);
  sendJson(call.response, 200, result);
  return {
    action: 'account-export',
    category: 'iam',
    type: 'access',
    target: { type: 'username', value: result.account.pseudonym },
  };
}

async function eraseHandler(context: GatewayContext, call: ApiRequest): Promise<AuditNote> {
  const username = requiredUsername(await readJsonObject(call.request));
  const result = await eraseAccount(context, username, call.now);
  sendJson(call.response, 200, result);
  return {
    action: 'account-erase',
    category: 'iam',
    type: 'deletion',
    target: { type: 'username', value: result.account.pseudonym },
    details: {
      keys_deleted: result.keys_deleted,
      manual_entry_removed: result.manual_entry_removed,
      manual_block_kept: result.manual_block_kept !== undefined,
      data_found: result.data_found,
    },
  };
}

/** Shortest prefixes a manual entry may have: an allow wider than these turns riskgate off. */
const MIN_ENTRY_PREFIX = { ipv4: 8, ipv6: 32 };

/**
 * Return a canonical CIDR, or raise a 400 problem when it covers a large part of the
 * internet. The problem names the CIDR as sent, and the network it reads as when that differs.
 */
function boundedCidr(cidr: string, sent: string): string {
  const separator = cidr.lastIndexOf('/');
  const bits = Number(cidr.slice(separator + 1));
  const minimum = cidr.includes(':') ? MIN_ENTRY_PREFIX.ipv6 : MIN_ENTRY_PREFIX.ipv4;
  if (bits < minimum) {
    const network = cidr === sent ? `cidr "${sent}"` : `cidr "${sent}" covers ${cidr}, which`;
    throw new AdminProblem(400, 'invalid request body',
      `${network} is wider than /${minimum}, so an entry would cover a large part of the internet; ` +
        'list the narrower networks you mean');
  }
  return cidr;
}

function entryStore(context: GatewayContext): ManualEntryStore {
  return new ManualEntryStore(context.store, context.config.store.keyPrefix);
}

function entryTarget(context: GatewayContext, body: Record<string, unknown>): { type: ManualEntry['type']; value: string } {
  const targetFields = (['ip', 'cidr', 'username'] as const).filter((field) => body[field] !== undefined);
  if (targetFields.length !== 1) {
    throw new AdminProblem(400, 'invalid request body', 'give exactly one of ip, cidr or username');
  }
  const field = targetFields[0];
  const raw = optionalString(body, field) ?? '';
  const text = field === 'username' ? raw : raw.trim();

  if (field === 'ip') return { type: 'ip', value: ipEntryAddress(text, context.trustedProxies) };
  if (field === 'cidr') return { type: 'cidr', value: boundedCidr(canonicalCidr(text), text) };

  const username = normalizeAccountName(text, context.config.username);
  if (username === undefined) throw new AdminProblem(400, 'invalid request body', HOST_SCOPE_HINT);
  if (!username) throw new AdminProblem(400, 'invalid request body', 'username is empty after normalisation');
  return { type: 'username', value: context.keys.pseudonymize(username) };
}

/**
 * Validate the address of an `ip` entry and return its canonical IPv4 text. An IPv6
 * address raises a 400 problem that names its /64 to send as `cidr`, because counters key
 * an IPv6 client by its /64 and the client can move to any other address in it.
 */
function ipEntryAddress(text: string, proxies: TrustedProxies): string {
  const client = parseClientAddress(text, proxies);
  if (client.version === 6) {
    throw new AdminProblem(400, 'invalid request body',
      `ip "${client.address}" is an IPv6 address, and riskgate counts IPv6 clients by their /64 network, ` +
        `so an entry for one address misses the rest of it. Send cidr "${client.key}" to cover the network, ` +
        `or cidr "${client.address}/128" for this address alone`);
  }
  return client.address;
}

function entryExpiry(body: Record<string, unknown>, now: number): number {
  const ttl = optionalString(body, 'ttl', 32);
  const expiresAt = optionalString(body, 'expires_at', 64);
  if ((ttl === undefined) === (expiresAt === undefined)) {
    throw new AdminProblem(400, 'invalid request body',
      'give exactly one of ttl (a duration such as 30m, 12h or 7d) or expires_at (an ISO 8601 time)');
  }

  let at: number;
  if (ttl !== undefined) {
    try {
      at = now + parseDurationMs(ttl);
    } catch (error) {
      throw new AdminProblem(400, 'invalid request body', `ttl: ${(error as Error).message}`);
    }
  } else {
    at = Date.parse(expiresAt!);
    if (Number.isNaN(at)) {
      throw new AdminProblem(400, 'invalid request body', `expires_at "${expiresAt!.slice(0, 64)}" is not an ISO 8601 time`);
    }
  }
  if (at <= now) throw new AdminProblem(400, 'invalid request body', 'the expiry must be in the future');
  if (at - now > MAX_ENTRY_TTL_MS) throw new AdminProblem(400, 'invalid request body', 'the expiry must be within 365 days');
  return at;
}

function requiredUsername(body: Record<string, unknown>): string {
  const username = optionalString(body, 'username');
  if (!username) throw new AdminProblem(400, 'invalid request body', 'username is missing');
  return username;
}
