// The load generator, in its own process: one autocannon run described by a JSON argument,
// printing autocannon's result as JSON. Login bodies and X-Forwarded-For addresses rotate
// over large pools so counters grow as they would under real traffic.
import autocannon from 'autocannon';

const spec = JSON.parse(process.argv[2]);
const agent = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
let sequence = spec.offset ?? 0;

const headers = {
  'user-agent': agent,
  accept: 'application/json',
  'accept-language': 'en-GB,en;q=0.8',
  'content-type': 'application/json',
};

function nextLogin(request) {
  sequence += 1;
  const user = sequence % spec.usernames;
  const address = sequence % spec.addresses;
  const ip = `10.${(address >> 16) & 255}.${(address >> 8) & 255}.${address & 255}`;
  const password = sequence % 4 === 0 ? 'wonderland' : 'not-the-password';
  request.body = JSON.stringify({ username: `user${user}@example.com`, password });
  request.headers = { ...headers, 'x-forwarded-for': ip };
  return request;
}

const options = {
  url: spec.url,
  connections: spec.connections ?? 50,
  duration: spec.duration,
  amount: spec.amount,
  overallRate: spec.rate,
  pipelining: 1,
  requests: spec.workload === 'login'
    ? [{ method: 'POST', path: '/login', setupRequest: nextLogin }]
    : [{ method: 'GET', path: '/', headers: { 'user-agent': agent } }],
};

const result = await autocannon(options);
process.stdout.write(JSON.stringify({
  requests: result.requests.total,
  rps: result.requests.average,
  p50: result.latency.p50,
  p99: result.latency.p99,
  non2xx: result.non2xx,
  errors: result.errors,
  timeouts: result.timeouts,
  durationS: result.duration,
}));
