import { isIP } from 'node:net';

import type { Logger } from 'pino';

import { isPseudonym } from '../crypto/keys.js';
import { sanitizeLogValue } from '../log/sanitize.js';
import type { ManualTargetType } from './manual-entries.js';

/** Shortest gap between two logged authentication failures; the ones between are counted. */
const AUTH_FAILURE_LOG_INTERVAL_MS = 10_000;

/** The request an audit line is about. */
export interface AuditRequest {
  requestId: string;
  sourceIp: string;
  method: string;
  path: string;
}

export interface AuditAction {
  /** Short verb phrase, such as `manual-entry-add`; becomes `event.action` `admin-<action>`. */
  action: string;
  category: 'configuration' | 'iam';
  type: 'creation' | 'deletion' | 'access' | 'change';
  outcome: 'success' | 'failure';
  status: number;
  /** Fingerprint of the admin token; never the token. */
  actor: string;
  /** Whom the action is about; a username target is its pseudonym. */
  target?: { type: ManualTargetType; value: string };
  details?: Record<string, unknown>;
}

/**
 * Writes one ECS line per admin action, so a SIEM can show who changed what and when.
 * Tokens appear only as fingerprints and usernames only as pseudonyms, so a path segment
 * that may contain a username is redacted. Client-supplied text such as a reason is made
 * log-safe here.
 */
export class AuditLog {
  private lastAuthFailureLogged = 0;
  private suppressedAuthFailures = 0;

  constructor(
    private readonly logger: Logger,
    private readonly clock: () => number = Date.now,
  ) {}

  action(request: AuditRequest, action: AuditAction): void {
    this.logger.info(
      {
        event: {
          kind: 'event',
          category: [action.category],
          type: [action.type],
          action: `admin-${action.action}`,
          outcome: action.outcome,
          module: 'riskgate',
          dataset: 'riskgate.audit',
        },
        ...requestFields(request, action.status),
        riskgate: {
          admin: {
            actor: action.actor,
            ...(action.target ? { target: action.target } : {}),
            ...(action.details ? { details: cleanDetails(action.details) } : {}),
          },
        },
      },
      'admin action',
    );
  }

  /** Log a rejected token, at most once per interval, with the count of those not logged. */
  authenticationFailed(request: AuditRequest, reason: 'missing' | 'invalid', status: number): void {
    const now = this.clock();
    if (now - this.lastAuthFailureLogged < AUTH_FAILURE_LOG_INTERVAL_MS) {
      this.suppressedAuthFailures += 1;
      return;
    }
    this.lastAuthFailureLogged = now;
    const suppressed = this.suppressedAuthFailures;
    this.suppressedAuthFailures = 0;
    this.logger.warn(
      {
        event: {
          kind: 'event',
          category: ['authentication'],
          type: ['denied'],
          action: 'admin-authentication',
          outcome: 'failure',
          module: 'riskgate',
          dataset: 'riskgate.audit',
        },
        ...requestFields(request, status),
        riskgate: { admin: { token: reason, suppressed_failures: suppressed } },
      },
      'admin authentication failed',
    );
  }
}

/** Replacement in log lines for a `username:` id whose value is not a pseudonym. */
const REDACTED_USERNAME_ID = 'username:[redacted]';
/** Replacement in log lines for a manual entry id that is no `ip:`, `cidr:` or `username:` id. */
const REDACTED_ENTRY_ID = '[redacted]';

/**
 * Return a manual entry id fit for a log line. A `username:` id names its account by
 * pseudonym, and one with any other value may contain the username itself, so it becomes
 * REDACTED_USERNAME_ID. An id that is no valid `ip:` or `cidr:` id either, such as a bare
 * `alice@example.com` or `user:alice`, may be a username too, so it becomes REDACTED_ENTRY_ID.
 */
export function loggableEntryId(id: string): string {
  const separator = id.indexOf(':');
  const type = separator === -1 ? '' : id.slice(0, separator).toLowerCase();
  const value = id.slice(separator + 1);
  if (type === 'username') return isPseudonym(value) ? id : REDACTED_USERNAME_ID;
  if (type === 'ip' && isIP(value) !== 0) return id;
  if (type === 'cidr' && isNetwork(value)) return id;
  return REDACTED_ENTRY_ID;
}

/**
 * Return a problem detail fit for an audit line: each quoted value becomes `"[redacted]"`.
 * Details quote what the request sent, and an operator may type a username or an email
 * into any field, while the audit log names accounts only by pseudonym. The response keeps
 * the full detail.
 */
export function loggableProblemDetail(detail: string): string {
  return detail.replace(/"[^"]*"/g, '"[redacted]"');
}

function isNetwork(value: string): boolean {
  const slash = value.lastIndexOf('/');
  return slash !== -1 && isIP(value.slice(0, slash)) !== 0 && /^\d{1,3}$/.test(value.slice(slash + 1));
}

/**
 * Replace the manual entry id of a request path with loggableEntryId's form, and any other
 * segment that is a `username:` id with a value other than a pseudonym.
 */
export function loggablePath(path: string): string {
  const segments = path.split('/');
  return segments
    .map((segment, index) => {
      let decoded: string;
      try {
        decoded = decodeURIComponent(segment);
      } catch {
        decoded = segment;
      }
      const entryId = segments[index - 1] === 'manual-entries';
      const named = /^username:/i.test(decoded);
      if (!entryId && !named) return segment;
      const loggable = loggableEntryId(decoded);
      return loggable === decoded ? segment : loggable;
    })
    .join('/');
}

function requestFields(request: AuditRequest, status: number): Record<string, unknown> {
  return {
    source: { ip: request.sourceIp },
    http: { request: { id: request.requestId, method: request.method }, response: { status_code: status } },
    url: { path: sanitizeLogValue(loggablePath(request.path)).text },
  };
}

function cleanDetails(details: Record<string, unknown>): Record<string, unknown> {
  const clean: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(details)) {
    clean[field] = typeof value === 'string' ? sanitizeLogValue(value).text : value;
  }
  return clean;
}
