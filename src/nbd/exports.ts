/**
 * What the server serves. A provider names its exports and opens one for each
 * client that asks (so that an export can be made on demand, e.g. a
 * point-in-time view named `<disk>@<seq>`), and is told when the client is gone.
 */
import type { BlockDevice } from "../blockdev/index.js";

export interface NbdExport {
  name: string;
  description?: string;
  device: BlockDevice;
}

export interface ExportProvider {
  list(): string[] | Promise<string[]>;
  /** The export for `name` ("" is the default export, if there is one), or undefined. */
  open(name: string): NbdExport | undefined | Promise<NbdExport | undefined>;
  /** Called once for every successful `open`, when its connection has ended. */
  release?(exp: NbdExport): void | Promise<void>;
}

/** A fixed set of exports; the first one added is also the default export (""). */
export class StaticExports implements ExportProvider {
  readonly #exports = new Map<string, NbdExport>();

  add(exp: NbdExport): this {
    if (this.#exports.has(exp.name)) throw new Error(`export "${exp.name}" is given twice`);
    this.#exports.set(exp.name, exp);
    return this;
  }

  remove(name: string): NbdExport | undefined {
    const exp = this.#exports.get(name);
    this.#exports.delete(name);
    return exp;
  }

  list(): string[] {
    return [...this.#exports.keys()];
  }

  open(name: string): NbdExport | undefined {
    if (name === "") return this.#exports.values().next().value;
    return this.#exports.get(name);
  }

  get exports(): NbdExport[] {
    return [...this.#exports.values()];
  }
}
