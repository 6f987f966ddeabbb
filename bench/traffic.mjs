// The requests the load generators send. Login bodies and X-Forwarded-For addresses rotate
// over pools of distinct usernames and public IPv4 addresses, so counters and profiles grow
// as they would under real traffic.

export const USER_AGENT = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';

// First octets of public unicast IPv4 space, so geo lookups run as for real clients.
const FIRST_OCTETS = [24, 31, 46, 62, 77, 81, 89, 93, 109, 151, 176, 185, 195, 212, 217];

const LOGIN_HEADERS = {
  'user-agent': USER_AGENT,
  accept: 'application/json',
  'accept-language': 'en-GB,en;q=0.8',
  'content-type': 'application/json',
};

/** Return public IPv4 address number `index`; distinct for every index below 15 * 254 * 2^16. */
function publicAddress(index) {
  const first = FIRST_OCTETS[index % FIRST_OCTETS.length];
  const rest = Math.floor(index / FIRST_OCTETS.length);
  const host = 1 + (rest % 254);
  const network = Math.floor(rest / 254);
  return `${first}.${(network >> 8) & 255}.${network & 255}.${host}`;
}

/**
 * Return a function that gives the next login's body and headers, numbered from
 * `spec.offset` on. One login in four has the right password, so the app responds 200
 * (success) or 401.
 */
export function loginSequence(spec) {
  let sequence = spec.offset ?? 0;
  return () => {
    sequence += 1;
    const user = sequence % spec.usernames;
    const password = sequence % 4 === 0 ? 'wonderland' : 'not-the-password';
    return {
      body: JSON.stringify({ username: `user${user}@example.com`, password }),
      headers: { ...LOGIN_HEADERS, 'x-forwarded-for': publicAddress(sequence % spec.addresses) },
    };
  };
}

/** Return the value at `fraction` (0 to 1) of an ascending array, or null when it is empty. */
export function percentile(sorted, fraction) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))];
}
