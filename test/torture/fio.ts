/**
 * fio with `ioengine=nbd` as a second workload of the torture: run after run
 * of verified random writes to one disk of the group, through the protected
 * site's NBD server. fio checks each block it wrote as it reads it back, so a
 * run that fails while the protected site stayed up is a real fault (lost or
 * wrong data at production); a run cut by the suite's own SIGKILL of that
 * site is excused.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { sleep } from "./writer.js";

export class FioLoad {
  readonly #uri: () => string | undefined;
  /** Bumped whenever the suite kills the protected site: runs that saw it are excused. */
  #killEpoch = 0;
  runs = 0;
  verified = 0;
  excused = 0;
  #child: ChildProcess | undefined;
  #running = false;
  #down = false;
  #loop: Promise<void> | undefined;
  /** Set when a run failed with nothing to excuse it. */
  failure: string | undefined;

  constructor(uri: () => string | undefined) {
    this.#uri = uri;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /**
   * Called before the suite kills the protected site: the run in flight is
   * excused, and ended, since fio's nbd engine spins forever on a dead
   * connection ("nothing to poll for in state DEAD").
   */
  protectedSiteKilled(): void {
    this.#killEpoch++;
    this.#down = true;
    this.#child?.kill("SIGKILL");
  }

  /** Called once the protected site runs again: runs start again. */
  protectedSiteBack(): void {
    this.#down = false;
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#child?.kill("SIGKILL");
    await this.#loop;
  }

  async #run(): Promise<void> {
    let region = 0;
    while (this.#running) {
      const uri = this.#down ? undefined : this.#uri();
      if (!uri) {
        await sleep(250);
        continue;
      }
      const epoch = this.#killEpoch;
      region = (region + 1) % 4;
      const { code, output } = await this.#once(uri, region);
      if (!this.#running) return;
      this.runs++;
      if (code === 0) this.verified++;
      else if (epoch !== this.#killEpoch) this.excused++;
      else {
        this.failure = `fio exited ${code} with the protected site up: ${output.slice(-2000)}`;
        return;
      }
    }
  }

  #once(uri: string, region: number): Promise<{ code: number | null; output: string }> {
    // --thread: the job runs in fio's process, so a kill takes it too.
    const child = spawn(
      "fio",
      [
        "--name=torture",
        "--thread",
        "--ioengine=nbd",
        `--uri=${uri}`,
        "--rw=randwrite",
        "--bs=4k",
        "--iodepth=4",
        `--offset=${region * 16}M`,
        "--size=16M",
        "--rate=2m",
        "--verify=crc32c",
        "--verify_fatal=1",
        `--randseed=${this.runs + 1}`,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.#child = child;
    let output = "";
    child.stdout!.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-8192)));
    child.stderr!.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-8192)));
    return new Promise((resolve) => {
      child.once("error", (err) => resolve({ code: -1, output: String(err) }));
      child.once("exit", (code) => resolve({ code, output }));
    });
  }
}
