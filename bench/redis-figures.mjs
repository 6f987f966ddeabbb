// Redis traffic per login, read from the private Redis server's own statistics before and
// after a fixed number of logins, so only the gateway's commands are counted.
import { ask, runLoad } from './children.mjs';

// Commands that riskgate's Lua scripts run (see src/store/redis.ts). commandstats counts
// every call a script makes, so they are reported apart from the commands sent. The gateway
// sends ZREM itself only to release a mark whose counter gets no increment. MGET and
// PFCOUNT it sends itself and the read scripts run too, and they are counted as sent.
export const SCRIPT_COMMANDS = new Set(['incr', 'pexpire', 'pttl', 'pfadd', 'hset', 'sadd', 'zadd', 'zrem', 'zcard', 'zrange', 'zremrangebyscore']);

/** Calls per command from INFO commandstats, without INFO itself. */
async function commandCalls(client) {
  const text = await client.info('commandstats');
  const calls = {};
  for (const line of text.split('\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (match && match[1] !== 'info') calls[match[1]] = Number(match[2]);
  }
  return calls;
}

/** Socket reads the server processed (INFO stats total_reads_processed, Redis 6 and later). */
async function readsProcessed(client) {
  const text = await client.info('stats');
  const match = /total_reads_processed:(\d+)/.exec(text);
  return match ? Number(match[1]) : null;
}

/**
 * Send `logins` logins through the Redis gateway and return the traffic they caused. That
 * is the commands per login, in total and by command, the server's socket reads per login,
 * and the gateway's own count of store round trips per login and to the memory fallback.
 */
export async function redisPerLogin(redis, gateway, { logins, connections, offset }) {
  const callsBefore = await commandCalls(redis.client);
  const readsBefore = await readsProcessed(redis.client);
  const before = await ask(gateway.process, 'cpu');

  const result = await runLoad({
    url: gateway.url, workload: 'login', amount: logins, connections, usernames: 100_000, addresses: 99_991, offset,
  });

  const after = await ask(gateway.process, 'cpu');
  const readsAfter = await readsProcessed(redis.client);
  const callsAfter = await commandCalls(redis.client);
  const answered = result.requests;

  const sentByName = {};
  const scriptCallsByName = {};
  let sent = 0;
  let scriptCalls = 0;
  for (const [name, calls] of Object.entries(callsAfter)) {
    const delta = calls - (callsBefore[name] ?? 0);
    if (delta <= 0) continue;
    const perLogin = Number((delta / answered).toFixed(2));
    if (SCRIPT_COMMANDS.has(name)) {
      scriptCallsByName[name] = perLogin;
      scriptCalls += delta;
    } else {
      sentByName[name] = perLogin;
      sent += delta;
    }
  }
  return {
    logins: answered,
    connections,
    sentPerLogin: sent / answered,
    sentByName,
    scriptCallsPerLogin: scriptCalls / answered,
    scriptCallsByName,
    commandsPerLogin: (sent + scriptCalls) / answered,
    serverReadsPerLogin: readsBefore === null ? null : (readsAfter - readsBefore) / answered,
    storeRoundTripsPerLogin: (after.roundTrips - before.roundTrips) / answered,
    fallbackRoundTrips: after.fallbackRoundTrips - before.fallbackRoundTrips,
  };
}

/** The Redis server's version, for the page. */
export async function redisVersion(client) {
  const text = await client.info('server');
  return /redis_version:(\S+)/.exec(text)?.[1] ?? 'unknown';
}
