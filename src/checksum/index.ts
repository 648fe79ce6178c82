/**
 * crc32c (Castagnoli), the checksum of every Lifeline file format and frame.
 * From our native addon (native/crc32c.c, built by `npm install`): the CPU's
 * own instruction, 1.3 to 2 times the speed of @node-rs/crc32 on these
 * machines, and less than half its cost a call for a small header. At 1 MiB
 * a replicated write is checked three or four times on its way, so this is a
 * good part of replication's CPU.
 */
import { addon } from "../native/index.js";

interface Crc32cAddon {
  /** The checksum of `data`; `previous`, a checksum of what came before it, continues it. */
  crc32c(data: Uint8Array, previous?: number): number;
  /** The same by the table, whatever the CPU. */
  crc32cTable(data: Uint8Array, previous?: number): number;
  /** Whether the CPU's instruction is used (else the table). */
  crc32cHardware: boolean;
}

const native = addon as Crc32cAddon;

export const crc32c: (data: Uint8Array, previous?: number) => number = native.crc32c;
/** The table's way, which CPUs without SSE4.2 take: for tests. */
export const crc32cTable: (data: Uint8Array, previous?: number) => number = native.crc32cTable;
export const crc32cHardware: boolean = native.crc32cHardware;
