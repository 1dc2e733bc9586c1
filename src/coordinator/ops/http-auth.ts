/**
 * Who may read the coordinator's HTTP endpoint. On loopback, anyone on this machine (no key). Beyond
 * loopback the endpoint needs the token's HTTP key (auth.ts `httpKey`): `Authorization: Bearer KEY`
 * for scrapers and scripts, or a browser's cookie, which `/?key=KEY` sets before redirecting to `/`.
 * `/healthz` stays open for liveness probes; it says nothing about the run.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';

const COOKIE = 'ringtrain_http';

function same(a: string, b: string | undefined): boolean {
  if (b === undefined) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function presented(req: IncomingMessage): string[] {
  const found: string[] = [];
  const auth = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  if (auth) found.push(auth[1]!);
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [name, value] = part.trim().split('=');
    if (name === COOKIE && value !== undefined) found.push(value);
  }
  return found;
}

/**
 * Answers a request that is not allowed (401) or that logs a browser in (303 with the cookie) and
 * returns true; returns false for a request to serve. `key` null: no authentication.
 */
export function refuseOrLogin(req: IncomingMessage, res: ServerResponse, key: string | null): boolean {
  if (key === null) return false;
  const [path, query = ''] = (req.url ?? '/').split('?');
  if (path === '/healthz' || presented(req).some((k) => same(key, k))) return false;
  const given = new URLSearchParams(query).get('key');
  if (given !== null && same(key, given)) {
    res.writeHead(303, { location: path ?? '/', 'set-cookie': `${COOKIE}=${key}; HttpOnly; SameSite=Strict; Path=/`, 'content-length': 0 });
    res.end();
    return true;
  }
  const body = 'unauthorized: send Authorization: Bearer KEY, or open /?key=KEY (KEY: the HTTP key the coordinator logs)\n';
  res.writeHead(401, { 'www-authenticate': 'Bearer realm="ringtrain"', 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
  return true;
}
