import t from 'tap';

import { createFormRouteScanner } from '../../src/request/form-route-scan.js';
import { RouteNameReader } from '../../src/request/form-routes.js';
import { PhpMultipartRouteScanner } from '../../src/request/php-multipart-scan.js';

/** Scan a body written in chunks of the given sizes, repeated to the end. */
function scan(body: Buffer, sizes: number[], scanner = new PhpMultipartRouteScanner('zz', new RouteNameReader())) {
  let offset = 0;
  for (let index = 0; offset < body.length; index += 1) {
    const size = sizes[index % sizes.length];
    scanner.write(body.subarray(offset, offset + size));
    offset += size;
  }
  return scanner.finish();
}

const part = (disposition: string, value: string) => `--zz\r\nContent-Disposition: form-data; ${disposition}\r\n\r\n${value}\r\n`;

t.test('PHP reading of part names', async (t) => {
  const cases: [string, string | undefined][] = [
    [part('name="r"', 'site/login'), 'r'],
    [part('name=r', 'site/login'), 'r'],
    [part('name="rest_route', '/x'), 'rest_route'],
    [part("name='r", 'site/login'), 'r'],
    [part('name=="r"', 'site/login'), 'r'],
    [part('NAME="r"', 'site/login'), 'r'],
    // The last name wins, and one inside quotes is not a parameter.
    [part('name="r"; name="title"', 'site/login'), undefined],
    [part('filename="a;name=r"; name="title"', 'site/login'), undefined],
    // A backslash escapes the quote inside quotes.
    [part('name="x\\"; name=r"', 'site/login'), undefined],
    [part('name="r\\\\"', 'site/login'), undefined],
    // PHP reads " r" and "r[]" as r, as it reads query keys.
    [part('name=" r"', 'site/login'), 'r'],
    [part('name="r[]"', 'site/login'), 'r'],
  ];
  for (const [body, expected] of cases) {
    const result = scan(Buffer.from(`${body}--zz--\r\n`), [body.length + 100]);
    const routes = 'routes' in result ? result.routes.map((route) => route.name) : [];
    t.same(routes, expected ? [expected] : [], JSON.stringify(body.slice(6, 60)));
  }
});

t.test('PHP part data ends at the first line-feed delimiter', async (t) => {
  const body = Buffer.from(`${part('name="r"', 'site/login')}--zz--\r\n`);
  const result = scan(body, [body.length]);
  t.same(result, { routes: [{ name: 'r', value: 'site/login' }] }, 'CRLF before the delimiter is dropped');

  const bare = Buffer.from('--zz\nContent-Disposition: form-data; name="r"\n\nsite/login\n--zzjunk\n');
  t.same(scan(bare, [bare.length]), { routes: [{ name: 'r', value: 'site/login' }] }, 'a bare LF and any text after the delimiter');

  const unfinished = Buffer.from('--zz\r\nContent-Disposition: form-data; name="r"\r\n\r\nsite/login\r\n');
  t.same(scan(unfinished, [unfinished.length]), { routes: [{ name: 'r', value: 'site/login\r\n' }] },
    'data to the end of the body when no delimiter follows');
});

t.test('chunking never changes what is read', async (t) => {
  const bodies = [
    `${part('name="x"', '1')}--zzX\r\nContent-Disposition: form-data; name="y"\r\n\r\n--zz\r\n` +
      'Content-Disposition: form-data; na\r\nme="r"\r\n\r\nsite/login\r\n--zz--\r\n',
    `${'A'.repeat(5119)}\n--zz\r\n${'Content-Disposition: form-data; name="r"'}\r\n\r\n${'v'.repeat(900)}\r\n--zz--`,
    `${'B'.repeat(5120)}--zz\r\nContent-Disposition: form-data; name="rest_route"\r\n\r\n/x\r\n--zz--\r\n`,
    `${part('name="a"', 'x\r\n--z')}${part('name="r"', 'a\r\n-')}--zz--\r\n${part('name="r"', 'epilogue')}`,
  ].map((text) => Buffer.from(text));

  for (const [index, body] of bodies.entries()) {
    const whole = scan(body, [body.length]);
    t.ok('routes' in whole && whole.routes.length > 0, `body ${index}: a routing part is read`);
    for (const sizes of [[1], [2, 3], [7], [5119, 1], [4096]]) {
      t.same(scan(body, sizes), whole, `body ${index}: chunks of ${sizes.join(', ')} read the same`);
    }
  }
});

t.test('a URL-encoded or multipart body gets every reading', async (t) => {
  const body = Buffer.from(`${'C'.repeat(5120)}--zz\r\nContent-Disposition: form-data; name="r"\r\n\r\nsite/login\r\n--zz--\r\n`);
  const scanner = createFormRouteScanner('multipart/form-data; boundary=zz');
  t.ok(scanner, 'a multipart body is scanned');
  t.same(scan(body, [body.length], scanner as unknown as PhpMultipartRouteScanner),
    { routes: [{ name: 'r', value: 'site/login' }] }, 'the PHP reading is among them');
});
