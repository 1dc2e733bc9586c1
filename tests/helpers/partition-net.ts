/**
 * Separate hosts on one machine, for partition tests: a network namespace per process
 * (coordinator and workers, names starting `rtp-`), each with one veth into a bridge that lives
 * in a hub namespace of its own, addresses in 10.79.0.0/24 only. Nothing is created in the root
 * namespace, and `destroy()` removes every namespace created (with its veths and the bridge).
 */
import { spawnSync } from 'node:child_process';

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${(r.stderr || r.error?.message || '').trim()}`);
}

/** Why namespaces cannot be made here (not root, no `ip`), or null. */
export function partitionNetUnavailable(): string | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'needs root to create network namespaces';
  const probe = `rtp-probe-${process.pid}`;
  const r = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (r.error) return `ip not available: ${r.error.message}`;
  if (r.status !== 0) return `ip netns add failed: ${r.stderr.trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return null;
}

export class PartitionNet {
  private readonly made: string[] = [];
  private readonly hub: string;
  private readonly tag = `rtp-${process.pid % 100000}`;

  constructor(hosts: readonly string[]) {
    this.hub = `${this.tag}-hub`;
    try {
      ip(['netns', 'add', this.hub]);
      this.made.push(this.hub);
      ip(['-n', this.hub, 'link', 'add', 'br0', 'type', 'bridge']);
      ip(['-n', this.hub, 'link', 'set', 'br0', 'up']);
      hosts.forEach((h, i) => {
        const ns = this.ns(h);
        ip(['netns', 'add', ns]);
        this.made.push(ns);
        ip(['-n', this.hub, 'link', 'add', `v${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
        ip(['-n', this.hub, 'link', 'set', `v${i}`, 'master', 'br0', 'up']);
        ip(['-n', ns, 'addr', 'add', `${PartitionNet.address(i)}/24`, 'dev', 'eth0']);
        ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
        ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      });
    } catch (err) {
      this.destroy();
      throw err;
    }
    this.hosts = hosts;
  }

  private readonly hosts: readonly string[];

  /** The namespace of host `h`. */
  ns(h: string): string {
    return `${this.tag}-${h}`;
  }

  /** Address of the i-th host. */
  static address(i: number): string {
    return `10.79.0.${i + 1}`;
  }

  /** Sets host `h`'s link to the bridge down or up (its cable pulled or plugged back). */
  link(h: string, up: boolean): void {
    ip(['-n', this.hub, 'link', 'set', `v${this.hosts.indexOf(h)}`, up ? 'up' : 'down']);
  }

  /**
   * Cuts (or restores) only the path between hosts `a` and `b`: a blackhole route to the other's
   * address in each one's namespace, so packets between them go nowhere while both still reach
   * everyone else (the coordinator included).
   */
  cutPath(a: string, b: string, cut: boolean): void {
    const ia = this.hosts.indexOf(a);
    const ib = this.hosts.indexOf(b);
    ip(['-n', this.ns(a), 'route', cut ? 'add' : 'del', 'blackhole', `${PartitionNet.address(ib)}/32`]);
    ip(['-n', this.ns(b), 'route', cut ? 'add' : 'del', 'blackhole', `${PartitionNet.address(ia)}/32`]);
  }

  /** Removes every namespace this net created; safe to call twice. */
  destroy(): void {
    while (this.made.length > 0) spawnSync('ip', ['netns', 'del', this.made.pop()!]);
  }
}
