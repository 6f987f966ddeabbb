import type { SourceProblem } from '../errors.js';
import { CONFIG_DEFAULTS } from './defaults.js';
import type { YamlSource } from './yaml-source.js';

type RawConfig = Record<string, any>;

const KEY_SOURCES = ['public_key_file', 'jwks_file', 'jwks_url'] as const;

/**
 * Check that step-up mode can verify assertions. A config file must name exactly one key
 * source for the MFA service, because a gateway that challenges logins but can verify no
 * assertion would lock out every challenged user. Only the demo and tests pass a key in
 * code, and they load configs with loadConfigObject, which skips this check.
 */
export function checkChallengeKey(merged: RawConfig, source: YamlSource): SourceProblem[] {
  const challenge: RawConfig = merged.challenge ?? {};
  const mode = challenge.mode ?? CONFIG_DEFAULTS.challenge.mode;
  const named = KEY_SOURCES.filter((key) => challenge[key] !== undefined);

  if (named.length > 1) {
    return [source.problemAt(['challenge', named[1]],
      `challenge sets ${named.map((key) => `challenge.${key}`).join(' and ')}; set only one key source for the MFA service`)];
  }
  // fetch refuses a URL with a user or password, so every step-up would fail.
  if (typeof challenge.jwks_url === 'string' && /^https?:\/\/[^/?#]*@/i.test(challenge.jwks_url)) {
    return [source.problemAt(['challenge', 'jwks_url'],
      'challenge.jwks_url carries a user or password, which the key fetch cannot send; publish the key set without ' +
        'credentials, or save it to a file and set challenge.jwks_file')];
  }
  if (mode !== 'step-up' || named.length === 1) return [];

  const defaulted = challenge.mode === undefined ? ' (the default)' : '';
  return [source.problemAt(['challenge', 'mode'],
    `challenge.mode is step-up${defaulted} but no key to verify step-up assertions is set: set ` +
      'challenge.public_key_file, challenge.jwks_file or challenge.jwks_url to the MFA service\'s key, ' +
      'or set challenge.mode: forward to let the app run its own MFA')];
}
