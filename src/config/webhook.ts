import type { SourceProblem } from '../errors.js';
import { CONFIG_DEFAULTS } from './defaults.js';
import { DURATION_PATTERN, parseDurationMs } from './duration.js';
import { hideUrlUserInfo } from './url-user-info.js';
import type { WebhookConfig } from './types.js';
import type { YamlSource } from './yaml-source.js';

type RawConfig = Record<string, any>;

/** JSON Schema of the `webhook` key. */
export const WEBHOOK_SCHEMA = {
  webhook: {
    type: 'object',
    additionalProperties: false,
    required: ['url'],
    properties: {
      url: { type: 'string', pattern: '^https?://' },
      decisions: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: ['allow', 'challenge', 'block'] } },
      timeout: { type: 'string', pattern: DURATION_PATTERN },
      max_attempts: { type: 'integer', minimum: 1, maximum: 20 },
      queue_size: { type: 'integer', minimum: 1, maximum: 100_000 },
    },
  },
} as const;

/**
 * Shorten a webhook URL for an error message to its scheme and host: the path, the query
 * and a user name or password before the host often carry the receiver's token.
 */
export function webhookUrlForMessage(url: string): string {
  // User info goes first: a password may contain "/", which would end the origin early.
  const hidden = hideUrlUserInfo(url);
  const origin = /^[^/]*\/\/[^/?#]*/.exec(hidden)?.[0] ?? '';
  if (origin === '') return `(${url.length} characters)`;
  return origin === hidden ? origin : `${origin}/...`;
}

/** Check what the schema cannot: that the webhook URL parses, and that the token can be sent. */
export function checkWebhookValues(merged: RawConfig, source: YamlSource, env: NodeJS.ProcessEnv = {}): SourceProblem[] {
  // The token goes after "Bearer " in one header line, and fetch's error for a value it
  // cannot send quotes the whole header, token included.
  const token = env.RISKGATE_WEBHOOK_TOKEN;
  const unsendable = token === undefined ? null : /[^\x21-\x7e]/.exec(token);
  if (merged.webhook !== undefined && unsendable) {
    return [{ file: 'environment', line: 0, column: 0, message: `RISKGATE_WEBHOOK_TOKEN contains ${JSON.stringify(unsendable[0])} ` +
      `at position ${unsendable.index + 1}, which no Authorization header can carry; use visible ASCII characters only, ` +
      'such as the first line of a token file' }];
  }
  const url = merged.webhook?.url;
  if (typeof url === 'string' && /^https?:\/\//.test(url) && !URL.canParse(url)) {
    return [source.problemAt(['webhook', 'url'],
      `webhook.url "${webhookUrlForMessage(url)}" is not a valid URL: use the receiver's http:// or https:// URL`)];
  }
  // Node's fetch refuses a URL with user info, so no delivery could succeed.
  if (typeof url === 'string' && URL.canParse(url) && (new URL(url).username !== '' || new URL(url).password !== '')) {
    return [source.problemAt(['webhook', 'url'],
      `webhook.url "${webhookUrlForMessage(url)}" carries a user name or password, which Node's fetch refuses: ` +
        'remove it and export RISKGATE_WEBHOOK_TOKEN to send a bearer token')];
  }
  return [];
}

/**
 * Resolve the `webhook` part of the config, or return undefined when no webhook is set.
 * RISKGATE_WEBHOOK_TOKEN, when set, is sent as a bearer token, so the secret stays out of
 * the config file.
 */
export function resolveWebhookConfig(merged: RawConfig, env: NodeJS.ProcessEnv): WebhookConfig | undefined {
  if (merged.webhook === undefined) return undefined;
  const webhook = { ...CONFIG_DEFAULTS.webhook, ...merged.webhook };
  return Object.freeze({
    url: new URL(webhook.url),
    decisions: Object.freeze([...webhook.decisions]),
    timeoutMs: parseDurationMs(webhook.timeout),
    maxAttempts: webhook.max_attempts,
    queueSize: webhook.queue_size,
    ...(env.RISKGATE_WEBHOOK_TOKEN ? { token: env.RISKGATE_WEBHOOK_TOKEN } : {}),
  });
}
