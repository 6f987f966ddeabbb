import type { IncomingMessage } from 'node:http';

/**
 * List every Referer value a login carries, in order. Repeats are kept because riskgate
 * forwards all of them and the app may read any one. `Referrer` is included because
 * Express's `req.get('Referrer')`, behind Express 4's `res.redirect('back')`,
 * reads either spelling.
 */
export function refererValues(request: Pick<IncomingMessage, 'rawHeaders'>): string[] {
  const values: string[] = [];
  const raw = request.rawHeaders;
  for (let index = 0; index < raw.length; index += 2) {
    const name = raw[index].toLowerCase();
    if (name === 'referer' || name === 'referrer') values.push(raw[index + 1]);
  }
  return values;
}
