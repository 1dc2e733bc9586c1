/**
 * The deployment files' shape, checked against the code they drive: Kubernetes manifests pass the
 * Kubernetes JSON schemas (kubernetes-models, offline), every flag and RINGTRAIN_* variable they
 * use exists in the CLI's own --help, ports agree end to end, no token value is committed, and the
 * README's docker/kubectl/sbatch commands name files, images and flags that exist. Whether the
 * recipes start and train is shown by running them: tests/integration/deploy-recipes.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { Job } from 'kubernetes-models/batch/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PersistentVolumeClaim, Service } from 'kubernetes-models/v1';
import { CLI } from '../helpers/cli.js';

const ROOT = process.cwd();
const DEPLOY = join(ROOT, 'deploy');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

type Obj = Record<string, any>;

const helpCache = new Map<string, string>();
function help(command: string): string {
  let h = helpCache.get(command);
  if (h === undefined) {
    h = execFileSync(process.execPath, [CLI, command, '--help'], { encoding: 'utf8', timeout: 30_000 });
    helpCache.set(command, h);
  }
  return h;
}

/** Throws unless every `--flag` in args is one `ringtrain <command> --help` lists. */
function expectFlagsExist(command: string, args: string[]): void {
  expect(['coordinator', 'worker', 'local', 'eval']).toContain(command);
  for (const a of args.filter((x) => x.startsWith('--'))) {
    const name = a.split('=')[0]!.replace(/^--no-/, '--');
    expect(help(command), `ringtrain ${command} has no ${name}`).toMatch(new RegExp(`^\\s+${name}\\s`, 'm'));
  }
}

/** RINGTRAIN_MIN_WORKERS -> --min-workers, which must exist for the command. */
function expectEnvExists(command: string, name: string): void {
  expect(name).toMatch(/^RINGTRAIN_[A-Z0-9_]+$/);
  expectFlagsExist(command, [`--${name.slice('RINGTRAIN_'.length).toLowerCase().replace(/_/g, '-')}`]);
}

function flagValue(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

const manifests: Obj[] = readdirSync(join(DEPLOY, 'k8s'))
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((f) =>
    parseAllDocuments(readFileSync(join(DEPLOY, 'k8s', f), 'utf8')).map((d) => {
      expect(d.errors, f).toEqual([]);
      return d.toJS() as Obj;
    }),
  );
const byKind = (kind: string): Obj[] => manifests.filter((m) => m['kind'] === kind);
const jobOf = (component: string): Obj => byKind('Job').find((j) => j['metadata']['labels']['app.kubernetes.io/component'] === component)!;
const workerJob = (): Obj => jobOf('worker');

describe('Kubernetes manifests', () => {
  it('pass Kubernetes schema validation', () => {
    const models: Record<string, new (o: Obj) => { validate(): void }> = { Job, Service, PersistentVolumeClaim, NetworkPolicy };
    // No Secret: the user creates it, so no token value is ever in git.
    expect(manifests.map((m) => m['kind']).sort()).toEqual(['Job', 'Job', 'NetworkPolicy', 'PersistentVolumeClaim', 'Service']);
    for (const m of manifests) {
      const Model = models[m['kind']];
      expect(Model, `no schema for ${m['kind']}`).toBeDefined();
      expect(() => new Model!(m).validate(), `${m['kind']} ${m['metadata']?.name}`).not.toThrow();
    }
  });

  it('a broken manifest fails the same validation (the check is real)', () => {
    const bad = structuredClone(workerJob());
    bad['spec']['template']['spec']['containers'][0]['ports'][0]['containerPort'] = 'ring';
    expect(() => new Job(bad).validate()).toThrow(/containerPort/);
  });

  it('use only flags and RINGTRAIN_* variables the CLI has, with consistent ports', () => {
    const coord = jobOf('coordinator')['spec']['template']['spec']['containers'][0] as Obj;
    const worker = workerJob()['spec']['template']['spec']['containers'][0] as Obj;
    for (const c of [coord, worker]) {
      const [command, ...args] = c['args'] as string[];
      expectFlagsExist(command!, args);
      for (const e of (c['env'] ?? []) as Obj[]) if (String(e['name']).startsWith('RINGTRAIN_')) expectEnvExists(command!, e['name']);
    }
    const coordArgs = coord['args'] as string[];
    const ports = Object.fromEntries((coord['ports'] as Obj[]).map((p) => [p['name'], p['containerPort']]));
    expect(String(ports['control'])).toBe(flagValue(coordArgs, '--port'));
    expect(String(ports['http'])).toBe(flagValue(coordArgs, '--http-port'));
    const svc = byKind('Service').find((s) => s['metadata']['name'] === 'ringtrain-coordinator')!;
    for (const p of svc['spec']['ports'] as Obj[]) expect(ports[p['targetPort']]).toBe(p['port']);
    const url = new URL(flagValue(worker['args'], '--coordinator')!);
    expect(url.hostname).toBe('ringtrain-coordinator');
    expect(Number(url.port)).toBe(ports['control']);
    // Ring address from the pod IP (downward API), on the port the pod declares.
    expect(flagValue(worker['args'], '--advertise')).toBe('$(POD_IP)');
    expect((worker['env'] as Obj[]).find((e) => e['name'] === 'POD_IP')?.['valueFrom']['fieldRef']['fieldPath']).toBe('status.podIP');
    expect(String(worker['ports'][0]['containerPort'])).toBe(flagValue(worker['args'], '--ring-port'));
    expect(worker['resources']['limits']['nvidia.com/gpu']).toBe(1);
    // A finished run stays finished; the token only from the user's Secret; workers = min-workers.
    expect(jobOf('coordinator')['spec']['backoffLimit']).toBe(0);
    expect(jobOf('coordinator')['spec']['template']['spec']['restartPolicy']).toBe('Never');
    for (const c of [coord, worker]) expect((c['env'] as Obj[]).find((e) => e['name'] === 'RINGTRAIN_TOKEN')?.['valueFrom']['secretKeyRef']).toEqual({ name: 'ringtrain-token', key: 'token' });
    expect(String(workerJob()['spec']['completions'])).toBe((coord['env'] as Obj[]).find((e) => e['name'] === 'RINGTRAIN_MIN_WORKERS')!['value']);
    // The NetworkPolicy admits only worker pods, to the control and ring ports.
    const policy = byKind('NetworkPolicy')[0]!['spec'] as Obj;
    expect(policy['ingress']).toEqual([{ from: [{ podSelector: { matchLabels: workerJob()['spec']['template']['metadata']['labels'] } }], ports: [{ protocol: 'TCP', port: 7070 }, { protocol: 'TCP', port: 7072 }] }]);
  });
});

describe('compose, SLURM and Dockerfiles', () => {
  it('compose parses and its commands, variables and ports match the CLI', () => {
    const compose = parse(readFileSync(join(DEPLOY, 'compose.yaml'), 'utf8')) as Obj;
    const services = compose['services'] as Obj;
    expect(Object.keys(services).sort()).toEqual(['coordinator', 'worker']);
    for (const s of Object.values(services) as Obj[]) {
      const [command, ...args] = s['command'] as string[];
      expectFlagsExist(command!, args);
      for (const name of Object.keys(s['environment'] ?? {})) expectEnvExists(command!, name);
    }
    const coordArgs = services['coordinator']['command'] as string[];
    // Published on the Docker host's loopback only.
    expect(services['coordinator']['ports']).toContain(`127.0.0.1:${flagValue(coordArgs, '--http-port')}:${flagValue(coordArgs, '--http-port')}`);
    // The token as a Compose secret from a file that git ignores, never a value in the file.
    expect(compose['secrets']).toEqual({ 'ringtrain-token': { file: './ringtrain-token' } });
    expect(readFileSync(join(ROOT, '.gitignore'), 'utf8')).toMatch(/^deploy\/ringtrain-token$/m);
    for (const s of Object.values(services) as Obj[]) expect(flagValue(s['command'], '--token-file')).toBe('/run/secrets/ringtrain-token');
    expect(flagValue(services['worker']['command'], '--coordinator')).toBe(`ws://coordinator:${flagValue(coordArgs, '--port')}`);
  });

  it('the SLURM script starts one worker per GPU with srun, using real flags', () => {
    const text = readFileSync(join(DEPLOY, 'slurm', 'ringtrain.sbatch'), 'utf8');
    expect(text).toMatch(/^#SBATCH --gpus-per-task=1$/m);
    const joined = text.replace(/\\\n\s*/g, ' ');
    const coord = joined.match(/\$RT_COMMAND coordinator ([^&>\n]*)/)![1]!.split(/\s+/);
    expectFlagsExist('coordinator', coord);
    const srun = joined.match(/^srun (.*)\$RT_COMMAND worker ([^&\n]*)/m)!;
    expect(srun[1]).toContain('--gpus-per-task=1');
    expectFlagsExist('worker', srun[2]!.split(/\s+/));
    execFileSync('bash', ['-n', join(DEPLOY, 'slurm', 'ringtrain.sbatch')]);
  });

  it("the README's docker, compose, kubectl and sbatch commands name real files, images and flags", () => {
    const lines = README.split('\n').map((l) => l.trim());
    const builds = lines.filter((l) => l.startsWith('docker build '));
    expect(builds.length).toBe(2);
    const images = new Set<string>();
    for (const b of builds) {
      const args = b.split(/\s+/);
      const file = flagValue(args, '-f')!;
      expect(existsSync(join(ROOT, file)), file).toBe(true);
      const tag = flagValue(args, '-t')!;
      images.add(tag);
      // Each Dockerfile says how to build itself in its header: the same command as the README.
      expect(readFileSync(join(ROOT, file), 'utf8')).toContain(`#   ${b}`);
      expect(readFileSync(join(ROOT, file), 'utf8')).toMatch(/^ENTRYPOINT \["node", "\/app\/dist\/cli\.js"\]$/m);
    }
    expect([...images].sort()).toEqual(['ringtrain:cpu', 'ringtrain:cuda']);
    // Images the manifests and compose use are ones the README builds.
    for (const m of byKind('Job')) expect(images).toContain(m['spec']['template']['spec']['containers'][0]['image']);
    const runs = lines.filter((l) => l.startsWith('docker run '));
    expect(runs.length).toBeGreaterThanOrEqual(2);
    for (const r of runs) {
      const args = r.split(/\s+/).map((a) => a.replace(/^"|"$/g, ''));
      const i = args.findIndex((a) => images.has(a));
      expect(i, r).toBeGreaterThan(0);
      expectFlagsExist(args[i + 1]!, args.slice(i + 2));
    }
    for (const l of lines.filter((x) => /^(WORKERS=\d+ )?docker compose |^kubectl apply |^sbatch /.test(x))) {
      const file = l.split(/\s+/).find((a) => a.startsWith('deploy/'))!;
      expect(existsSync(join(ROOT, file)), l).toBe(true);
    }
    // The CUDA image installs the same TensorFlow wheel the README tells GPU hosts to install.
    const gpu = readFileSync(join(DEPLOY, 'Dockerfile.cuda'), 'utf8').match(/engines install-tensorflow --pip (tensorflow==[\d.]+)/)![1]!;
    expect(README).toContain(`npx ringtrain engines install-tensorflow --pip ${gpu}`);
  });
});
