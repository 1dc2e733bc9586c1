/**
 * Hosts for the deploy-recipe test: each host a network namespace with one address on a shared
 * bridge, the bridge itself in a namespace of its own, so nothing touches the machine's own
 * interfaces. Names start `rtd-<pid>-` and addresses are 10.78.0.0/24 only; `destroy()` removes
 * everything, and namespaces of an earlier run whose process is gone are swept at creation.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';

const PREFIX = 'rtd-';

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${(r.stderr || r.error?.message || '').trim()}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes rtd- namespaces left by runs whose process no longer exists. */
function sweepStale(): void {
  let names: string[] = [];
  try {
    names = readdirSync('/run/netns');
  } catch {
    return;
  }
  for (const n of names) {
    const m = /^rtd-(\d+)-/.exec(n);
    if (m && !alive(Number(m[1]))) spawnSync('ip', ['netns', 'del', n]);
  }
}

export class NetnsHosts {
  private readonly names: string[] = [];
  private readonly tag = `${PREFIX}${process.pid}-`;
  private readonly onExit = (): void => this.destroy();

  private constructor(readonly count: number) {}

  /** Builds `count` hosts; throws (after cleaning up) when namespaces cannot be made here. */
  static create(count: number): NetnsHosts {
    if (process.getuid?.() !== 0) throw new Error('the deploy-recipe test runs hosts as network namespaces and needs root');
    sweepStale();
    const hosts = new NetnsHosts(count);
    process.once('exit', hosts.onExit);
    try {
      hosts.build();
    } catch (err) {
      hosts.destroy();
      throw err;
    }
    return hosts;
  }

  /** Address of host i. */
  address(i: number): string {
    return `10.78.0.${i + 1}`;
  }

  /** Namespace name of host i. */
  netns(i: number): string {
    return `${this.tag}h${i}`;
  }

  private build(): void {
    const hub = `${this.tag}br`;
    ip(['netns', 'add', hub]);
    this.names.push(hub);
    ip(['-n', hub, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', hub, 'link', 'set', 'br0', 'up']);
    for (let i = 0; i < this.count; i++) {
      const ns = this.netns(i);
      ip(['netns', 'add', ns]);
      this.names.push(ns);
      ip(['-n', hub, 'link', 'add', `v${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      ip(['-n', hub, 'link', 'set', `v${i}`, 'master', 'br0', 'up']);
      ip(['-n', ns, 'addr', 'add', `${this.address(i)}/24`, 'dev', 'eth0']);
      ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    }
  }

  /**
   * Starts `argv` on host i, as `uid` (the container's user) when given: `ip netns exec` enters
   * the namespace, setpriv drops root; both exec, so the child's pid is the command's own.
   */
  spawn(i: number, argv: string[], opts: { env: NodeJS.ProcessEnv; cwd: string; uid?: number | null }): ChildProcess {
    const drop = opts.uid === undefined || opts.uid === null ? [] : ['setpriv', `--reuid=${opts.uid}`, `--regid=${opts.uid}`, '--clear-groups'];
    return spawn('ip', ['netns', 'exec', this.netns(i), ...drop, ...argv], { env: opts.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** Deletes every namespace (and so every veth and the bridge); safe to call twice. */
  destroy(): void {
    process.removeListener('exit', this.onExit);
    while (this.names.length > 0) spawnSync('ip', ['netns', 'del', this.names.pop()!]);
  }
}
