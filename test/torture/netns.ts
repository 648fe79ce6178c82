/**
 * A second host for the torture: a network namespace joined to this one by a
 * veth pair, so that the recovery site runs behind a real (virtual) link the
 * kernel can take down or shape. A link taken down drops packets silently (no
 * reset, unlike the fault proxy's cut): the sender must notice a dead peer by
 * itself. tc's tbf caps the bandwidth towards the recovery site (netem, for
 * latency and loss, is not in this kernel: the fault proxy adds latency).
 * Needs root; `make` answers undefined where namespaces cannot be made.
 */
import { execFileSync } from "node:child_process";

export class HostLink {
  readonly ns: string;
  readonly #veth: string;
  /** This host's address on the link, and the namespace's. */
  readonly hostA: string;
  readonly hostB: string;

  private constructor(ns: string, veth: string, subnet: string) {
    this.ns = ns;
    this.#veth = veth;
    this.hostA = `${subnet}.1`;
    this.hostB = `${subnet}.2`;
  }

  static make(): HostLink | undefined {
    if (process.getuid?.() !== 0) return undefined;
    const id = process.pid % 100000;
    const link = new HostLink(`lltorture${id}`, `llt${id}a`, `10.${200 + (id % 50)}.${id % 250}`);
    const peer = `llt${id}b`;
    try {
      run("ip", "netns", "add", link.ns);
      run("ip", "link", "add", link.#veth, "type", "veth", "peer", "name", peer);
      run("ip", "link", "set", peer, "netns", link.ns);
      run("ip", "addr", "add", `${link.hostA}/24`, "dev", link.#veth);
      run("ip", "link", "set", link.#veth, "up");
      link.#inNs("ip", "addr", "add", `${link.hostB}/24`, "dev", peer);
      link.#inNs("ip", "link", "set", peer, "up");
      link.#inNs("ip", "link", "set", "lo", "up");
      return link;
    } catch {
      link.destroy();
      return undefined;
    }
  }

  /** Takes the link down (packets vanish both ways) or brings it back. */
  down(on: boolean): void {
    run("ip", "link", "set", this.#veth, on ? "down" : "up");
  }

  /** Caps traffic towards the namespace (undefined lifts the cap). */
  cap(bytesPerSec: number | undefined): void {
    if (bytesPerSec === undefined) {
      run("tc", "qdisc", "del", "dev", this.#veth, "root");
      return;
    }
    run("tc", "qdisc", "replace", "dev", this.#veth, "root", "tbf", "rate", `${bytesPerSec * 8}bit`, "burst", "64kb", "latency", "2s");
  }

  destroy(): void {
    try {
      run("ip", "link", "del", this.#veth);
    } catch {
      // Gone already (the namespace's removal takes the pair with it).
    }
    try {
      run("ip", "netns", "del", this.ns);
    } catch {
      // Never made.
    }
  }

  #inNs(...argv: string[]): void {
    run("ip", "netns", "exec", this.ns, ...argv);
  }
}

function run(cmd: string, ...args: string[]): void {
  execFileSync(cmd, args, { stdio: "pipe" });
}
