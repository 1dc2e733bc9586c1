/**
 * Every deploy recipe, run: the Kubernetes Jobs, the compose file, the README's `docker run` lines
 * and the SLURM script start their own command lines with their own environment, as processes in
 * network namespaces standing for pods, containers and nodes (10.78.0.0/24, names rtd-*), and each
 * run ends with a summary.json whose replica checksums agree. What this does not verify (images,
 * schedulers) is listed in README "Deploying".
 */
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpKey } from '../../src/shared/protocol/auth.js';
import { CLI } from '../helpers/cli.js';
import { NetnsHosts } from '../helpers/netns-hosts.js';
import { composeFile, dockerRun, imageUid, k8sManifests, k8sProcs, place, readmeImages, shellWords, type RecipeProc } from '../helpers/recipes.js';

const ROOT = process.cwd();
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const IMAGES = readmeImages(README);
const TOKEN = 'recipe-test-token-0123456789abcdef';
/** The short training every run is given through the recipes' own knobs. */
const QUICK = { job: 'regression-mlp', epochs: '1' };

let hosts: NetnsHosts;
let work: string;

beforeAll(() => {
  hosts = NetnsHosts.create(3);
  work = mkdtempSync(join(tmpdir(), 'rt-recipes-'));
  chmodSync(work, 0o755);
});
afterAll(() => {
  hosts?.destroy();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A fresh folder owned by `uid` (as a volume that starts owned by the image's user). */
function folder(name: string, uid: number | null): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  if (uid !== null) chownSync(dir, uid, uid);
  return dir;
}

interface Ended {
  name: string;
  code: number | null;
  stderr: string;
}

/**
 * Runs the processes to their end; kills all on timeout. With `whileWaiting`, the first process
 * (the coordinator) starts alone and the hook runs once it logged its dashboard, while it waits
 * for workers; then the others start.
 */
async function runAll(procs: RecipeProc[], whileWaiting?: () => Promise<void>, timeoutMs = 90_000): Promise<Ended[]> {
  const start = (p: RecipeProc) => {
    const home = folder(`home-${p.name}`, p.uid);
    const child = hosts.spawn(p.host, [process.execPath, CLI, ...p.args], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, ...p.env }, cwd: home, uid: p.uid });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout!.resume();
    const dashboard = new Promise<void>((resolve) => child.stderr!.on('data', () => /"msg":"dashboard"/.test(stderr) && resolve()));
    // One process failing fails the run: the others are stopped rather than left waiting for it.
    child.on('close', (code) => code !== 0 && started.forEach((s) => s.child.kill('SIGKILL')));
    return { p, child, dashboard, ended: new Promise<Ended>((resolve) => child.on('close', (code) => resolve({ name: p.name, code, stderr }))) };
  };
  const started: ReturnType<typeof start>[] = [];
  const timer = setTimeout(() => started.forEach((s) => s.child.kill('SIGKILL')), timeoutMs);
  try {
    if (whileWaiting) {
      const first = start(procs[0]!);
      started.push(first);
      await Promise.race([first.dashboard, first.ended]);
      await whileWaiting();
    }
    started.push(...procs.slice(started.length).map(start));
    return await Promise.all(started.map((s) => s.ended));
  } finally {
    clearTimeout(timer);
  }
}

/** HTTP statuses of GETs from inside host i's namespace (as a probe or a scraper there would). */
function statusesFrom(i: number, requests: { url: string; headers?: Record<string, string> }[]): number[] {
  const script = `Promise.all(${JSON.stringify(requests)}.map((r) => fetch(r.url, { headers: r.headers, redirect: 'manual' }).then((x) => x.status, () => 0))).then((s) => console.log(JSON.stringify(s)))`;
  const r = spawnSync('ip', ['netns', 'exec', hosts.netns(i), process.execPath, '-e', script], { encoding: 'utf8', timeout: 30_000 });
  return JSON.parse(r.stdout || '[]') as number[];
}

function expectCleanRun(ended: Ended[], summaryFile: string, workers: number): Record<string, unknown> {
  // The first failure by its own code (the processes it took down end by signal).
  const failed = ended.find((e) => e.code !== 0 && e.code !== null) ?? ended.find((e) => e.code !== 0);
  if (failed) expect.fail(`${failed.name} exited ${failed.code}:\n${failed.stderr.slice(-3000)}`);
  const summary = JSON.parse(readFileSync(summaryFile, 'utf8')) as Record<string, unknown>;
  const sums = summary['replicaChecksums'] as string[];
  expect(summary['workers']).toBe(workers);
  expect(sums).toHaveLength(workers);
  expect(new Set(sums).size).toBe(1);
  return summary;
}

describe('deploy recipes, run as processes in network namespaces', () => {
  it('Kubernetes: coordinator Job, Indexed worker Job, token from the Secret, pod IPs as ring addresses', async () => {
    const manifests = k8sManifests();
    // The user's edits: a short job, and auto for the GPU engine (no GPU here).
    for (const m of manifests.filter((x) => x['kind'] === 'Job')) {
      for (const e of m['spec']['template']['spec']['containers'][0]['env'] as Record<string, any>[]) {
        if (e['name'] === 'RINGTRAIN_JOB') e['value'] = QUICK.job;
        if (e['name'] === 'RINGTRAIN_EPOCHS') e['value'] = QUICK.epochs;
        if (e['name'] === 'RINGTRAIN_BACKEND') e['value'] = 'auto';
      }
      expect(IMAGES.has(m['spec']['template']['spec']['containers'][0]['image'])).toBe(true);
    }
    const coordinatorJob = manifests.find((m) => m['kind'] === 'Job' && m['metadata']['labels']['app.kubernetes.io/component'] === 'coordinator')!;
    const service = manifests.find((m) => m['kind'] === 'Service' && m['metadata']['name'] === 'ringtrain-coordinator')!;
    expect(service['spec']['selector']).toEqual(coordinatorJob['spec']['template']['metadata']['labels']);
    const pvc = coordinatorJob['spec']['template']['spec']['volumes'].find((v: any) => v['persistentVolumeClaim'])['name'] as string;
    const runs = folder('k8s-runs', 1000);
    // The coordinator pod on host 0, worker pod i on host 1 + i.
    const procs = k8sProcs(manifests, {
      secrets: { 'ringtrain-token': { token: TOKEN } },
      services: { [service['metadata']['name']]: hosts.address(0) },
      volumes: { [pvc]: runs },
      podHost: (job, i) => (job === coordinatorJob['metadata']['name'] ? 0 : 1 + i),
      address: (i) => hosts.address(i),
    });
    expect(procs.map((p) => p.uid)).toEqual(procs.map(() => 1000));
    const output = procs[0]!.args[procs[0]!.args.indexOf('--output') + 1]!;
    // The readiness probe (from another host, as the kubelet's) passes without a key; the figures need it.
    const container = coordinatorJob['spec']['template']['spec']['containers'][0];
    const probe = container['readinessProbe']['httpGet'];
    const httpPort = container['ports'].find((p: any) => p['name'] === probe['port'])['containerPort'];
    const base = `http://${hosts.address(0)}:${httpPort}`;
    let statuses: number[] = [];
    const ended = await runAll(procs, async () => {
      statuses = statusesFrom(1, [{ url: `${base}${probe['path']}` }, { url: `${base}/status` }, { url: `${base}/metrics`, headers: { authorization: `Bearer ${httpKey(TOKEN)}` } }]);
    });
    expect(statuses).toEqual([200, 401, 200]);
    expectCleanRun(ended, join(output, 'summary.json'), procs.length - 1);
  });

  it('compose: coordinator and scaled workers, token as a Compose secret, output on the volume', async () => {
    const line = README.split('\n').find((l) => /^WORKERS=\d+ docker compose -f deploy\/compose.yaml up --scale worker=\d+$/.test(l))!;
    expect(line).toBeDefined();
    // The README's command, at the scale this test affords.
    const scale = 2;
    const compose = composeFile(join(ROOT, 'deploy', 'compose.yaml'), { WORKERS: String(scale), JOB: QUICK.job, EPOCHS: QUICK.epochs });
    const services = compose['services'] as Record<string, any>;
    const secretFile = folder('compose', null) + '/ringtrain-token';
    writeFileSync(secretFile, `${TOKEN}\n`, { mode: 0o600 });
    const uid = imageUid(IMAGES.get(services['coordinator']['image'])!);
    chownSync(secretFile, uid, uid);
    const volumes = Object.fromEntries(Object.keys(compose['volumes']).map((v) => [v, folder(`compose-${v}`, uid)]));
    const paths = (svc: Record<string, any>): Record<string, string> => ({
      ...Object.fromEntries((svc['volumes'] ?? []).map((v: string) => [v.split(':')[1]!, volumes[v.split(':')[0]!]!])),
      ...Object.fromEntries((svc['secrets'] ?? []).map((s: string) => [`/run/secrets/${s}`, secretFile])),
    });
    const names = { coordinator: hosts.address(0) };
    const proc = (svc: string, i: number, host: number): RecipeProc => {
      const s = services[svc];
      const at = { hosts: names, paths: paths(s) };
      return { name: `${svc}-${i}`, host, uid: imageUid(IMAGES.get(s['image'])!), args: (s['command'] as string[]).map((a) => place(a, at)), env: Object.fromEntries(Object.entries((s['environment'] ?? {}) as Record<string, string>).map(([k, v]) => [k, place(v, at)])) };
    };
    const procs = [proc('coordinator', 0, 0), ...Array.from({ length: scale }, (_, i) => proc('worker', i, 1 + i))];
    const output = procs[0]!.args[procs[0]!.args.indexOf('--output') + 1]!;
    expectCleanRun(await runAll(procs), join(output, 'summary.json'), scale);
  });

  it("the README's docker run lines: token file made by its own line, mounted read-only, worker line on two hosts", async () => {
    const dir = folder('docker-run', null);
    const lines = README.split('\n');
    const setup = lines.find((l) => l.startsWith('mkdir -p runs && head -c 32 /dev/urandom'))!;
    expect(spawnSync('bash', ['-c', setup], { cwd: dir }).status).toBe(0);
    expect(statSync(join(dir, 'ringtrain-token')).mode & 0o777).toBe(0o600);
    const uid = process.getuid!();
    const subst = { '$PWD': dir, '$(id -u)': String(uid), '$(id -g)': String(process.getgid!()) };
    const [coord, worker] = lines.filter((l) => l.startsWith('docker run ')).map((l) => dockerRun(shellWords(l, subst)));
    expect(coord!.args[0]).toBe('coordinator');
    expect(worker!.args[0]).toBe('worker');
    const proc = (r: typeof coord, name: string, host: number, extraEnv: Record<string, string>): RecipeProc => {
      expect(IMAGES.has(r!.image)).toBe(true);
      const at = { hosts: {}, paths: Object.fromEntries(r!.mounts.map(([h, c]) => [c, h])) };
      const args = r!.args.map((a) => place(a.replace('COORDINATOR_HOST', hosts.address(0)).replace('THIS_HOST', hosts.address(host)), at));
      return { name, host, args, env: { ...r!.env, ...extraEnv }, uid: r!.user === null ? imageUid(IMAGES.get(r!.image)!) : Number(r!.user.split(':')[0]) };
    };
    const procs = [proc(coord, 'coordinator', 0, { RINGTRAIN_EPOCHS: QUICK.epochs }), proc(worker, 'worker-1', 1, {}), proc(worker, 'worker-2', 2, {})];
    const output = procs[0]!.args[procs[0]!.args.indexOf('--output') + 1]!;
    expect(output.startsWith(join(dir, 'runs'))).toBe(true);
    expectCleanRun(await runAll(procs), join(output, 'summary.json'), 2);
  });

  it('SLURM: one sbatch starts the coordinator and the srun workers; the token file is private and reaches every task', async () => {
    const line = README.split('\n').find((l) => /^JOB=\S+ EPOCHS=\d+ sbatch --nodes=\d+ --ntasks-per-node=\d+ deploy\/slurm\/ringtrain.sbatch$/.test(l))!;
    expect(line).toBeDefined();
    const words = line.split(' ');
    const vars = Object.fromEntries(words.filter((w) => /^[A-Z]+=/.test(w)).map((w) => w.split('=') as [string, string]));
    const opt = (name: string): number => Number(words.find((w) => w.startsWith(`--${name}=`))!.split('=')[1]);
    const nodes = opt('nodes');
    const perNode = opt('ntasks-per-node');
    expect(nodes).toBeLessThanOrEqual(hosts.count);
    const script = join(ROOT, words.at(-1)!);
    expect(readFileSync(script, 'utf8')).toMatch(/^#SBATCH --gpus-per-task=1$/m);
    const dir = folder('slurm', null);
    const nodeNames = Array.from({ length: nodes }, (_, i) => hosts.address(i));
    const env = {
      PATH: `${join(ROOT, 'tests', 'fixtures', 'slurm')}:${process.env['PATH'] ?? '/usr/bin:/bin'}`, HOME: dir,
      SLURM_JOB_ID: '4242', SLURM_JOB_NODELIST: nodeNames.join(','), SLURM_NNODES: String(nodes), SLURM_NTASKS_PER_NODE: String(perNode), SLURM_NTASKS: String(nodes * perNode),
      RTD_SLURM_NETNS: nodeNames.map((n, i) => `${n}=${hosts.netns(i)}`).join(' '),
      // The script's own knobs: the command (this checkout) and the engine (no GPU here).
      RT_COMMAND: `${process.execPath} ${CLI}`, BACKEND: 'auto', ...vars,
    };
    const child = hosts.spawn(0, ['bash', script], { env, cwd: dir });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearTimeout(timer);
    expect(code, out.slice(-3000)).toBe(0);
    expect(statSync(join(dir, '.ringtrain', 'token')).mode & 0o777).toBe(0o600);
    expectCleanRun([], join(dir, 'runs', `${vars['JOB']}-4242.summary.json`), nodes * perNode);
  });
});
