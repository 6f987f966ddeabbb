import { ACCOUNT_RISK_SCHEMA, STORE_TOPOLOGY_SCHEMA } from './account-risk.js';
import { WEBHOOK_SCHEMA } from './webhook.js';
import { DURATION_PATTERN } from './duration.js';
import { RELOAD_SCHEMA } from './reload.js';

const duration = { type: 'string', pattern: DURATION_PATTERN };
const hostPort = { type: 'string', pattern: '^(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.-]+):\\d{1,5}$' };
const statusList = {
  type: 'array',
  items: { type: 'string', pattern: '^!?[1-5](\\d\\d|xx)$' },
  minItems: 1,
};

/** JSON Schema of riskgate.yaml; every default value lives in defaults.ts. */
export const CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    listen: hostPort,
    upstream: { type: 'string', pattern: '^https?://' },
    trusted_proxies: { type: 'array', items: { type: 'string' } },
    nat64_prefixes: { type: 'array', maxItems: 64, items: { type: 'string' } },
    forwarded_prefix: { enum: ['drop', 'pass'] },
    hosts: { type: 'array', maxItems: 1024, items: { type: 'string', pattern: '^(\\*\\.)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?$' } },
    mode: { enum: ['enforce', 'monitor'] },
    store: {
      type: 'object',
      additionalProperties: false,
      properties: {
        url: { type: 'string', pattern: '^(memory|rediss?://.*)$' },
        key_prefix: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,32}$' },
        timeout: duration,
        memory_max_entries: { type: 'integer', minimum: 1000 },
        ...STORE_TOPOLOGY_SCHEMA,
      },
    },
    ...ACCOUNT_RISK_SCHEMA,
    ...WEBHOOK_SCHEMA,
    login_routes: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['path'],
        properties: {
          id: { type: 'string', pattern: '^[a-z0-9_.-]{1,64}$' },
          method: { type: 'string', pattern: '^[A-Z]+$' },
          path: { type: 'string', pattern: '^/' },
          body: { enum: ['json', 'form', 'auto'] },
          form_charset: { enum: ['utf-8', 'iso-8859-1'] },
          username_field: { type: 'string', minLength: 1 },
          password_field: { type: 'string', minLength: 1 },
          require_password: { type: 'boolean' },
          success_fields: {
            type: 'object',
            additionalProperties: { type: 'array', items: { type: 'string', maxLength: 128 }, minItems: 1, maxItems: 32 },
            maxProperties: 16,
          },
          on_store_error: { enum: ['open', 'closed'] },
          success_status: statusList,
          failure_status: statusList,
          success_location: { type: 'array', items: { type: 'string', pattern: '^/' } },
          failure_location: { type: 'array', items: { type: 'string', pattern: '^/' } },
          subpaths: { enum: ['judge', 'forward'] },
          any_path: { type: 'boolean' },
          suffix_match: { type: 'boolean' },
          identifier_first: { type: 'boolean' },
          cross_site: { enum: ['refuse', 'same-origin', 'judge'] },
          cors_origins: { type: 'array', maxItems: 64, items: { type: 'string', pattern: '^[a-z][a-z0-9+.-]*://[^/?#\\s]+$' } },
        },
      },
    },
    username: {
      type: 'object',
      additionalProperties: false,
      properties: {
        case: { enum: ['fold', 'preserve'] },
        trim: { type: 'boolean' },
        nfkc: { type: 'boolean' },
        accents: { enum: ['fold', 'preserve'] },
        markup: { enum: ['refuse', 'keep'] },
        scope: { enum: ['global', 'host'] },
        ignorables: { enum: ['remove', 'keep'] },
        collation: { enum: ['any', 'uca'] },
        email: { enum: ['validator', 'php_filter'] },
        host_header: { enum: ['host', 'x-forwarded-host'] },
        hosts: { type: 'array', maxItems: 1024, items: { type: 'string', pattern: '^(\\*\\.)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?$' } },
        letters: {
          type: 'object',
          maxProperties: 256,
          propertyNames: { minLength: 1, maxLength: 4 },
          additionalProperties: { type: 'string', maxLength: 8 },
        },
      },
    },
    rules: { type: 'array', items: { type: 'string' }, minItems: 1 },
    ...RELOAD_SCHEMA,
    body_limit_bytes: { type: 'integer', minimum: 256, maximum: 10_485_760 },
    challenge: {
      type: 'object',
      additionalProperties: false,
      properties: {
        mode: { enum: ['step-up', 'forward'] },
        mfa_url: { type: 'string', minLength: 1 },
        header: { type: 'string', pattern: '^[A-Za-z0-9-]+$' },
        cookie: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
        ttl: duration,
        issuer: { type: 'string', minLength: 1 },
        audience: { type: 'string', minLength: 1 },
        algorithms: {
          type: 'array',
          minItems: 1,
          items: { enum: ['ES256', 'ES384', 'RS256', 'PS256', 'EdDSA'] },
        },
        public_key_file: { type: 'string' },
        jwks_file: { type: 'string' },
        jwks_url: { type: 'string', pattern: '^https?://' },
      },
    },
    block: {
      type: 'object',
      additionalProperties: false,
      properties: {
        status: { enum: [403, 429] },
        retry_after: duration,
      },
    },
    device_cookie: {
      type: 'object',
      additionalProperties: false,
      properties: {
        name: { type: 'string', pattern: '^[A-Za-z0-9_-]+$' },
        max_age: duration,
        secure: { type: 'boolean' },
        same_site: { enum: ['lax', 'strict', 'none'] },
      },
    },
    upstream_timeouts: {
      type: 'object',
      additionalProperties: false,
      properties: {
        connect: duration,
        response: duration,
        send: duration,
      },
    },
    admin: {
      type: 'object',
      additionalProperties: false,
      properties: {
        listen: hostPort,
        token: { type: 'string', minLength: 1 },
        hosts: { type: 'array', items: { type: 'string', pattern: '^\\.?[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*\\.?$' } },
      },
    },
    log: {
      type: 'object',
      additionalProperties: false,
      properties: {
        level: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
        username: { enum: ['pseudonymise', 'plain', 'omit'] },
        destination: { type: 'string', minLength: 1 },
      },
    },
  },
} as const;
