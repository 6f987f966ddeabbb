import UAParser from 'ua-parser-js';

/** User agents are cut to this many characters before parsing, so crafted ones stay cheap. */
export const MAX_USER_AGENT_LENGTH = 512;

const CACHE_SIZE = 2048;

// HTTP libraries and automation tools that real browsers never name in their user agent.
const AUTOMATION = new RegExp(
  [
    'curl', 'wget', 'python-requests', 'python-urllib', 'aiohttp', 'httpx', 'go-http-client',
    'java/', 'okhttp', 'libwww-perl', 'node-fetch', 'axios', 'undici', 'scrapy', 'headlesschrome',
    'phantomjs', 'selenium', 'puppeteer', 'playwright', 'postmanruntime', 'insomnia', 'httpie',
    'powershell', 'hydra', 'sqlmap', 'nikto', 'zgrab', 'masscan', 'openbullet', 'silverbullet',
  ].map((name) => name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|'),
  'i',
);

export interface UserAgentSignals {
  browser: string;
  browser_version: string;
  os: string;
  device_type: string;
  automation: boolean;
  empty: boolean;
  length: bigint;
}

const cache = new Map<string, UserAgentSignals>();

/** Parse a User-Agent header into rule signals; results are cached per distinct string. */
export function parseUserAgent(header: string | undefined): UserAgentSignals {
  const original = header ?? '';
  const text = original.length > MAX_USER_AGENT_LENGTH ? original.slice(0, MAX_USER_AGENT_LENGTH) : original;
  const cached = cache.get(text);
  if (cached) {
    return { ...cached, length: BigInt(original.length) };
  }

  const result = new UAParser(text).getResult();
  const signals: UserAgentSignals = {
    browser: result.browser.name ?? '',
    browser_version: result.browser.version ?? '',
    os: result.os.name ?? '',
    // ua-parser-js leaves the device type empty for desktops.
    device_type: result.device.type ?? (result.browser.name ? 'desktop' : ''),
    automation: text.trim() === '' || AUTOMATION.test(text),
    empty: text.trim() === '',
    length: BigInt(original.length),
  };

  if (cache.size >= CACHE_SIZE) {
    cache.delete(cache.keys().next().value as string);
  }
  cache.set(text, signals);
  return signals;
}
