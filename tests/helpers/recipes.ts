/**
 * Turns the deploy recipes into the processes they would start: Kubernetes manifests, the compose
 * file and the README's `docker run` lines become ringtrain command lines with their environment,
 * user and host, ready to run in network namespaces (netns-hosts.ts). Service names become host
 * addresses and mounts become folders; nothing else is changed, so a recipe that would be refused
 * or fail at start fails here too.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

type Obj = Record<string, any>;

/** One process a recipe starts: ringtrain's arguments (after the image's entrypoint). */
export interface RecipeProc {
  name: string;
  /** Index of the host (network namespace) it runs on. */
  host: number;
  args: string[];
  env: Record<string, string>;
  /** The user it runs as (the container's), or null for the caller. */
  uid: number | null;
}

/** Where a recipe's names and paths point on this machine. */
export interface Placement {
  /** Host names (services) to addresses. */
  hosts: Record<string, string>;
  /** Container paths (mount points, secret files) to local paths; longest prefix wins. */
  paths: Record<string, string>;
}

const ROOT = process.cwd();

/** The uid a Dockerfile's final stage runs as (its USER, by name or number; node and ringtrain are 1000). */
export function imageUid(dockerfile: string): number {
  const users = [...readFileSync(join(ROOT, dockerfile), 'utf8').matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1]!);
  const user = users.at(-1) ?? 'root';
  if (/^\d+$/.test(user)) return Number(user);
  const known: Record<string, number> = { root: 0, node: 1000, ringtrain: 1000 };
  if (!(user in known)) throw new Error(`${dockerfile}: unknown USER ${user}`);
  return known[user]!;
}

/** Images the README builds, by tag, with the Dockerfile each comes from. */
export function readmeImages(readme: string): Map<string, string> {
  const images = new Map<string, string>();
  for (const m of readme.matchAll(/^docker build -f (\S+) -t (\S+) \.$/gm)) images.set(m[2]!, m[1]!);
  return images;
}

function mapPath(value: string, paths: Record<string, string>): string {
  const hit = Object.keys(paths)
    .filter((p) => value === p || value.startsWith(`${p}/`))
    .sort((a, b) => b.length - a.length)[0];
  return hit === undefined ? value : paths[hit]! + value.slice(hit.length);
}

function mapHostInUrl(value: string, hosts: Record<string, string>): string {
  return value.replace(/^(wss?:\/\/)([^:/]+)/, (all, scheme: string, host: string) => (host in hosts ? `${scheme}${hosts[host]}` : all));
}

/** Applies a placement to one argument or environment value. */
export function place(value: string, at: Placement): string {
  return mapHostInUrl(mapPath(value, at.paths), at.hosts);
}

/** All documents of deploy/k8s, parsed (throws on a YAML error). */
export function k8sManifests(dir = join(ROOT, 'deploy', 'k8s')): Obj[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) =>
      parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => {
        if (d.errors.length > 0) throw new Error(`${f}: ${d.errors[0]!.message}`);
        return d.toJS() as Obj;
      }),
    );
}

/** Kubernetes' $(VAR) expansion of container args from the container's own env. */
function expandK8s(value: string, env: Record<string, string>): string {
  return value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (all, name: string) => env[name] ?? all);
}

/** Where the pods of a set of manifests run, and what stands in for the cluster's objects. */
export interface K8sPlacement {
  /** Secrets the user created: name -> key -> value. */
  secrets: Record<string, Record<string, string>>;
  /** Service names -> addresses. */
  services: Record<string, string>;
  /** Volume names (as the pod spec names them) -> local folders. */
  volumes: Record<string, string>;
  /** The host pod `index` of Job `job` runs on. */
  podHost(job: string, index: number): number;
  /** Address of host i (the pod IP). */
  address(i: number): string;
}

/** One env entry's value, from a literal, a Secret or the downward API's pod IP. */
function envValue(e: Obj, where: string, pod: { ip: string }, at: K8sPlacement): string {
  if (typeof e['value'] === 'string') return e['value'];
  const ref = e['valueFrom']?.['secretKeyRef'] as Obj | undefined;
  if (ref) {
    const v = at.secrets[ref['name']]?.[ref['key']];
    if (v === undefined) throw new Error(`${where}: Secret ${ref['name']} (key ${ref['key']}) does not exist`);
    return v;
  }
  if (e['valueFrom']?.['fieldRef']?.['fieldPath'] === 'status.podIP') return pod.ip;
  throw new Error(`${where}: env ${e['name']} has a source this test does not know`);
}

/** The pods of the manifests' Jobs (`completions` each) as processes. */
export function k8sProcs(manifests: Obj[], at: K8sPlacement): RecipeProc[] {
  const procs: RecipeProc[] = [];
  for (const job of manifests.filter((m) => m['kind'] === 'Job')) {
    const name = job['metadata']['name'] as string;
    const spec = job['spec']['template']['spec'] as Obj;
    for (let index = 0; index < ((job['spec']['completions'] as number | undefined) ?? 1); index++) {
      const host = at.podHost(name, index);
      for (const c of spec['containers'] as Obj[]) {
        const paths: Record<string, string> = {};
        for (const vm of (c['volumeMounts'] ?? []) as Obj[]) {
          const local = at.volumes[vm['name']];
          if (local === undefined) throw new Error(`${name}: no local folder for volume ${vm['name']}`);
          paths[vm['mountPath']] = local;
        }
        const placement = { hosts: at.services, paths };
        const env = Object.fromEntries(((c['env'] ?? []) as Obj[]).map((e) => [e['name'] as string, envValue(e, name, { ip: at.address(host) }, at)]));
        const args = ((c['args'] ?? []) as string[]).map((a) => place(expandK8s(a, env), placement));
        const uid = (c['securityContext']?.['runAsUser'] ?? spec['securityContext']?.['runAsUser'] ?? null) as number | null;
        procs.push({ name: `${name}-${index}`, host, args, env: Object.fromEntries(Object.entries(env).map(([k, v]) => [k, place(v, placement)])), uid });
      }
    }
  }
  return procs;
}

/** Compose's ${VAR}, ${VAR:-default} and ${VAR-default} interpolation. */
export function interpolate(text: string, vars: Record<string, string | undefined>): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}/g, (_all, name: string, op: string | undefined, dflt: string | undefined) => {
    const v = vars[name];
    if (op === ':-') return v === undefined || v === '' ? dflt! : v;
    if (op === '-') return v === undefined ? dflt! : v;
    return v ?? '';
  });
}

/** The compose file, interpolated with `vars` and parsed. */
export function composeFile(path: string, vars: Record<string, string | undefined>): Obj {
  return parse(interpolate(readFileSync(path, 'utf8'), vars)) as Obj;
}

/**
 * Splits one shell command line into words, with double/single quotes, `$(cmd)` and `$VAR`
 * replaced from `subst` (an unknown one throws: the test must know every substitution it makes).
 */
export function shellWords(line: string, subst: Record<string, string>): string[] {
  const words: string[] = [];
  let cur = '';
  let started = false;
  let quote: '"' | "'" | null = null;
  const take = (i: number): number => {
    const sub = /^\$\(([^)]*)\)|^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/.exec(line.slice(i));
    if (!sub) return 0;
    const key = sub[1] !== undefined ? `$(${sub[1]})` : `$${sub[2]}`;
    if (!(key in subst)) throw new Error(`no substitution for ${key} in: ${line}`);
    cur += subst[key];
    started = true;
    return sub[0].length;
  };
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote === "'") {
      if (ch === "'") quote = null;
      else cur += ch;
    } else if (ch === '$') {
      const n = take(i);
      if (n === 0) cur += ch;
      else i += n - 1;
    } else if (quote === '"') {
      if (ch === '"') quote = null;
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      started = true;
    } else if (/\s/.test(ch)) {
      if (started || cur !== '') words.push(cur);
      cur = '';
      started = false;
    } else cur += ch;
  }
  if (quote !== null) throw new Error(`unclosed quote in: ${line}`);
  if (started || cur !== '') words.push(cur);
  return words;
}

/** A `docker run` command line, taken apart. */
export interface DockerRun {
  image: string;
  args: string[];
  env: Record<string, string>;
  /** host path -> container path */
  mounts: [string, string][];
  user: string | null;
}

/** Parses the words of `docker run …` (the options the README uses; others throw). */
export function dockerRun(words: string[]): DockerRun {
  if (words[0] !== 'docker' || words[1] !== 'run') throw new Error(`not a docker run line: ${words.join(' ')}`);
  const out: DockerRun = { image: '', args: [], env: {}, mounts: [], user: null };
  let i = 2;
  for (; i < words.length && words[i]!.startsWith('-'); i++) {
    const w = words[i]!;
    if (w === '--rm' || w === '-d') continue;
    const value = words[++i];
    if (value === undefined) throw new Error(`docker run option ${w} has no value`);
    if (w === '-p' || w === '--gpus' || w === '--name' || w === '--network') continue;
    if (w === '-e') {
      const [k, ...v] = value.split('=');
      out.env[k!] = v.join('=');
    } else if (w === '-v') {
      const [host, container] = value.split(':');
      out.mounts.push([host!, container!]);
    } else if (w === '--user' || w === '-u') out.user = value;
    else throw new Error(`docker run option ${w} is not one this test knows`);
  }
  out.image = words[i]!;
  out.args = words.slice(i + 1);
  return out;
}
