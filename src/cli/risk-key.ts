import { GatewayKeys } from '../crypto/keys.js';
import { MIN_SECRET_LENGTH } from '../config/defaults.js';
import { RiskgateError } from '../errors.js';

export const RISK_KEY_HELP = `Usage: riskgate risk-key

Print the key that signs the Riskgate-Risk header in forward mode, as base64url, derived
from RISKGATE_SECRET. Give the app this key alone, not RISKGATE_SECRET: the secret also
keys pseudonyms, counters, device cookies and challenge ids, and the app needs none of them.

Environment:
  RISKGATE_SECRET   the gateways' secret, at least ${MIN_SECRET_LENGTH} characters
`;

/** Prints the risk-header key, so the app can verify forward-mode headers without the master secret. */
export async function runRiskKey(positionals: string[]): Promise<number> {
  if (positionals.length > 0) {
    throw new RiskgateError('RG_ERR_USAGE', `risk-key takes no arguments, got "${positionals[0]}"; run riskgate risk-key --help`);
  }

  const secret = process.env.RISKGATE_SECRET ?? '';
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new RiskgateError(
      'RG_ERR_SECRET_MISSING',
      `RISKGATE_SECRET is ${secret ? `too short (${secret.length} characters)` : 'not set'}; ` +
        `set it to the gateways' own secret, which has at least ${MIN_SECRET_LENGTH} characters`,
    );
  }

  const key = new GatewayKeys(secret).riskHeader;
  process.stdout.write(`${Buffer.from(key).toString('base64url')}\n`);
  return 0;
}
