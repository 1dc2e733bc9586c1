/**
 * Defaults that fit one machine: a worker started by hand against a loopback coordinator needs no
 * token (its ring listener stays on loopback), the HTTP endpoint binds loopback unless --http-host
 * says otherwise, and beyond loopback it needs the token's HTTP key.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { httpKey } from '../../src/shared/protocol/auth.js';
import { workerConfig } from '../../src/shared/config/config.js';
import { runCli, startCli, summaryOf } from '../helpers/cli.js';

const NO_TOKEN = { RINGTRAIN_TOKEN: '' };
const dir = mkdtempSync(join(tmpdir(), 'rt-one-machine-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const listening = /"port":(\d+)[^\n]*"msg":"coordinator listening"/;

describe('one machine', () => {
  it('the ring listener follows a loopback coordinator unless --ring-host says otherwise', () => {
    const base = { ringPort: 0, backend: 'auto', connectTimeout: 1, reconnectTimeout: 1, logLevel: 'info' };
    expect(workerConfig({ ...base, coordinator: 'ws://127.0.0.1:7070' }).ringHost).toBe('127.0.0.1');
    expect(workerConfig({ ...base, coordinator: 'ws://localhost:7070' }).ringHost).toBe('127.0.0.1');
    expect(workerConfig({ ...base, coordinator: 'ws://[::1]:7070' }).ringHost).toBe('127.0.0.1');
    expect(workerConfig({ ...base, coordinator: 'ws://127.0.0.1:7070', ringHost: '127.0.0.2' }).ringHost).toBe('127.0.0.2');
    expect(() => workerConfig({ ...base, coordinator: 'ws://10.78.0.250:7070' })).toThrow(/--ring-host 0.0.0.0 is reachable/);
  });

  it('workers started by hand against a loopback coordinator train without a token', async () => {
    const coord = startCli(['coordinator', '--port', '0', '--http-port', '-1', '--min-workers', '2', '--job', 'regression-mlp', '--epochs', '2', '--json', '--output', join(dir, 'hand')], NO_TOKEN);
    const port = (await coord.waitFor(listening))[1]!;
    const workers = [0, 1].map(() => runCli(['worker', '--coordinator', `ws://127.0.0.1:${port}`], { env: NO_TOKEN }));
    const results = await Promise.all(workers);
    const { code } = await coord.exited;
    for (const w of results) expect(w.code, w.stderr.slice(-2000)).toBe(0);
    expect(code, coord.stderr().slice(-2000)).toBe(0);
    const summary = summaryOf({ code, signal: null, stdout: coord.stdout(), stderr: coord.stderr() });
    const sums = summary['replicaChecksums'] as string[];
    expect(sums).toHaveLength(2);
    expect(sums[1]).toBe(sums[0]);
  });

  it('HTTP binds loopback by default; beyond loopback it is refused without a token and needs its key with one', async () => {
    const refused = await runCli(['coordinator', '--port', '0', '--http-host', '0.0.0.0', '--job', 'regression-mlp'], { env: NO_TOKEN });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('RT_BAD_CONFIG: --http-host 0.0.0.0 is reachable from other machines but no token is set');

    const token = 'one-machine-http-token';
    // The coordinator's --host beyond loopback does not move the HTTP endpoint.
    const plain = startCli(['coordinator', '--host', '0.0.0.0', '--port', '0', '--http-port', '0', '--min-workers', '1', '--job', 'regression-mlp'], { RINGTRAIN_TOKEN: token });
    const shown = JSON.parse((await plain.waitFor(/\{[^\n]*"msg":"dashboard"[^\n]*\}/))[0]) as { url: string; login?: string };
    expect(shown.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(shown.login).toBeUndefined();
    expect((await fetch(`${shown.url}status`)).status).toBe(200);
    plain.child.kill('SIGTERM');
    await plain.exited;

    const pub = startCli(['coordinator', '--port', '0', '--http-host', '0.0.0.0', '--http-port', '0', '--min-workers', '1', '--job', 'regression-mlp'], { RINGTRAIN_TOKEN: token });
    try {
      const rec = JSON.parse((await pub.waitFor(/\{[^\n]*"msg":"dashboard"[^\n]*\}/))[0]) as { url: string; login: string };
      const key = httpKey(token);
      expect(rec.login).toBe(`${rec.url}?key=${key}`);
      const url = rec.url;
      expect((await fetch(`${url}status`)).status).toBe(401);
      expect((await fetch(`${url}metrics`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
      expect((await fetch(`${url}?key=${token}`, { redirect: 'manual' })).status).toBe(401);
      expect((await fetch(`${url}healthz`)).status).toBe(200);
      const ok = await fetch(`${url}status`, { headers: { authorization: `Bearer ${key}` } });
      expect(ok.status).toBe(200);
      expect(await ok.json()).toHaveProperty('state');
      // A browser logs in once with ?key= and then holds a cookie.
      const login = await fetch(`${url}?key=${key}`, { redirect: 'manual' });
      expect(login.status).toBe(303);
      const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
      expect((await fetch(`${url}metrics`, { headers: { cookie } })).status).toBe(200);
    } finally {
      pub.child.kill('SIGTERM');
      await pub.exited;
    }
  });
});
