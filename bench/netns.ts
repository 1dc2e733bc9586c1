/**
 * A throwaway shaped network for bench:scaling: one namespace per rank, joined through a bridge
 * that lives in a namespace of its own, every veth end shaped with tbf. Only addresses inside
 * these namespaces (10.77.0.0/24) are used, and `destroy()` removes everything it created
 * (deleting a namespace deletes the veth ends and the bridge inside it).
 */
import { spawnSync } from 'node:child_process';

export const SUBNET = '10.77.0';

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${(r.stderr || r.error?.message || '').trim()}`);
}
function tc(ns: string, args: string[]): void {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'tc', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tc ${args.join(' ')} in ${ns} failed: ${r.stderr.trim()}`);
}

/** Why this machine cannot run the shaped bench, or null when it can. */
export function netnsUnavailable(): string | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'needs root (to create network namespaces)';
  const probe = `rtprobe${process.pid}`;
  const r = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (r.error) return `ip not available: ${r.error.message}`;
  if (r.status !== 0) return `ip netns add failed: ${r.stderr.trim()}`;
  const t = spawnSync('ip', ['netns', 'exec', probe, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'tbf', 'rate', '1gbit', 'burst', '64kb', 'latency', '50ms'], { encoding: 'utf8' });
  spawnSync('ip', ['netns', 'del', probe]);
  if (t.status !== 0) return `tc tbf not available: ${(t.stderr || t.error?.message || '').trim()}`;
  return null;
}

export class ShapedNet {
  readonly namespaces: string[] = [];
  private readonly hub: string;

  private constructor(private readonly tag: string) {
    this.hub = `${tag}hub`;
  }

  /** Builds `n` rank namespaces on a bridge; every link shaped to `rate` (tc syntax, e.g. 1gbit). */
  static create(n: number, rate: string, mtu: number): ShapedNet {
    const net = new ShapedNet(`rt${process.pid % 100000}`);
    try {
      net.build(n, rate, mtu);
    } catch (err) {
      net.destroy();
      throw err;
    }
    return net;
  }

  /** Address of rank i inside its namespace. */
  static address(i: number): string {
    return `${SUBNET}.${i + 1}`;
  }

  private build(n: number, rate: string, mtu: number): void {
    ip(['netns', 'add', this.hub]);
    this.namespaces.push(this.hub);
    ip(['-n', this.hub, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', this.hub, 'link', 'set', 'br0', 'up']);
    // tbf: burst must cover one timer tick at this rate; latency bounds the queue.
    const shape = ['root', 'tbf', 'rate', rate, 'burst', '256kb', 'latency', '20ms'];
    for (let i = 0; i < n; i++) {
      const ns = `${this.tag}r${i}`;
      ip(['netns', 'add', ns]);
      this.namespaces.push(ns);
      const outer = `v${i}`;
      // Both ends are created inside namespaces of ours: nothing touches the root namespace.
      ip(['-n', this.hub, 'link', 'add', outer, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      ip(['-n', this.hub, 'link', 'set', outer, 'mtu', String(mtu), 'master', 'br0', 'up']);
      ip(['-n', ns, 'link', 'set', 'eth0', 'mtu', String(mtu)]);
      ip(['-n', ns, 'addr', 'add', `${ShapedNet.address(i)}/24`, 'dev', 'eth0']);
      ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      tc(ns, ['qdisc', 'add', 'dev', 'eth0', ...shape]);
      tc(this.hub, ['qdisc', 'add', 'dev', outer, ...shape]);
    }
  }

  /** Removes every namespace this net created; safe to call twice. */
  destroy(): void {
    while (this.namespaces.length > 0) spawnSync('ip', ['netns', 'del', this.namespaces.pop()!]);
  }
}
