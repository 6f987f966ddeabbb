import { DURATION_PATTERN } from '../config/duration.js';

const duration = { type: 'string', pattern: DURATION_PATTERN };

/** JSON Schema of one rule file. */
export const RULE_FILE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    // IP list files by name, relative to the rule file, for `ip.in_list("name")`.
    lists: {
      type: 'object',
      propertyNames: { pattern: '^[a-z][a-z0-9_-]{0,63}$' },
      additionalProperties: { type: 'string', minLength: 1 },
    },
    thresholds: {
      type: 'object',
      additionalProperties: false,
      required: ['challenge_at', 'block_at'],
      properties: {
        challenge_at: { type: 'integer', minimum: 1 },
        block_at: { type: 'integer', minimum: 1 },
      },
    },
    counters: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'key', 'count', 'window'],
        properties: {
          name: { type: 'string', pattern: '^[a-z][a-z0-9_]{0,63}$' },
          key: {
            type: 'array',
            minItems: 1,
            uniqueItems: true,
            items: { enum: ['ip', 'ip_prefix', 'username', 'device', 'fingerprint', 'route'] },
          },
          count: { enum: ['attempts', 'failures', 'unsuccessful', 'distinct_usernames', 'distinct_successful_usernames'] },
          window: duration,
        },
      },
    },
    rules: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'description', 'when'],
        properties: {
          id: { type: 'string', pattern: '^[a-z0-9]+([._-][a-z0-9]+)*$' },
          description: { type: 'string', minLength: 1 },
          when: { type: 'string', minLength: 1 },
          score: { type: 'integer' },
          action: { enum: ['allow', 'challenge', 'block'] },
          retry_after: duration,
          mode: { enum: ['enforce', 'monitor'] },
          tags: { type: 'array', items: { type: 'string', pattern: '^[A-Za-z0-9_.:-]+$' } },
        },
      },
    },
    tests: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'expect'],
        properties: {
          name: { type: 'string', minLength: 1 },
          signals: { type: 'object' },
          expect: {
            type: 'object',
            additionalProperties: false,
            required: ['decision'],
            properties: {
              decision: { enum: ['allow', 'challenge', 'block'] },
              rules: { type: 'array', items: { type: 'string' } },
            },
          },
        },
      },
    },
  },
} as const;
