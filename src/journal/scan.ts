/**
 * Reads a segment's records in order, checking as it goes: the file header,
 * every record header's checksum, the seq order (contiguous: a missing seq is
 * a gap), and, where asked, the payload's checksum. It stops at the first
 * fault and says where; whether that fault is a torn tail (cut it) or
 * corruption (fail) is the caller's call, because only it knows whether this
 * is the last segment and how far from its end the fault is.
 *
 * Reads go through a 1 MiB window, so small records cost no syscall each and
 * large ones are skipped over (only their headers are read) unless their
 * payload is needed.
 */
import { HEADER_BYTES, type RecordHeader, RecordType, decodeHeader, payloadChecksumOk } from "./record.js";
import { SEGMENT_HEADER_BYTES, type Segment } from "./segment.js";

const WINDOW_BYTES = 1 << 20;
const SMALL_READ_BYTES = 4096;
const JUMP_BYTES = 64 * 1024;

export interface ScannedRecord {
  header: RecordHeader;
  /** Where the record's header starts in the segment. */
  pos: number;
  /** Where its payload starts. */
  dataPos: number;
  /** The payload, for checkpoints always, for others when it was verified. */
  payload: Buffer | undefined;
}

export interface ScanFault {
  offset: number;
  reason: string;
  /** A gap or a seq out of order is never a torn write: the header was whole. */
  tearable: boolean;
}

export interface ScanResult {
  /** End of the last good record. */
  endPos: number;
  /** Seq of the last good record (expectSeq - 1 when none). */
  lastSeq: number;
  fault: ScanFault | undefined;
}

export interface ScanOptions {
  /** Where to start: 0 to check the file header too, else a record boundary. */
  from: number;
  expectSeq: number;
  /** Whether to check the payload of the record starting at `pos`. */
  verifyData: (pos: number) => boolean;
  onRecord: (r: ScannedRecord) => void;
}

export async function scanSegment(seg: Segment, options: ScanOptions): Promise<ScanResult> {
  const fileBytes = seg.sizeBytes;
  const reader = new WindowReader(seg, fileBytes);
  let pos = options.from;
  let expect = options.expectSeq;
  const fail = (offset: number, reason: string, tearable = true): ScanResult => ({ endPos: pos, lastSeq: expect - 1, fault: { offset, reason, tearable } });
  if (pos === 0) {
    if (fileBytes < SEGMENT_HEADER_BYTES) return fail(0, "truncated segment header");
    const reason = seg.checkHeader(await reader.get(0, SEGMENT_HEADER_BYTES));
    if (reason) return fail(0, reason);
    pos = SEGMENT_HEADER_BYTES;
  }
  while (pos < fileBytes) {
    if (fileBytes - pos < HEADER_BYTES) return fail(pos, "truncated record header");
    const header = decodeHeader(await reader.get(pos, HEADER_BYTES), 0);
    if (typeof header === "string") return fail(pos, header);
    if (header.seq !== expect) return fail(pos, `expected seq ${expect}, found ${header.seq}`, false);
    const dataPos = pos + HEADER_BYTES;
    if (fileBytes - dataPos < header.payloadBytes) return fail(pos, "truncated record payload");
    let payload: Buffer | undefined;
    if (header.type === RecordType.CHECKPOINT || options.verifyData(pos)) {
      payload = Buffer.from(await reader.get(dataPos, header.payloadBytes));
      if (!payloadChecksumOk(header, payload)) return fail(pos, "payload checksum mismatch");
    }
    options.onRecord({ header, pos, dataPos, payload });
    pos = dataPos + header.payloadBytes;
    expect++;
  }
  return { endPos: pos, lastSeq: expect - 1, fault: undefined };
}

class WindowReader {
  readonly #seg: Segment;
  readonly #fileBytes: number;
  #buf = Buffer.allocUnsafe(WINDOW_BYTES);
  #start = 0;
  #end = 0;

  constructor(seg: Segment, fileBytes: number) {
    this.#seg = seg;
    this.#fileBytes = fileBytes;
  }

  /** Bytes [pos, pos+length) of the file; valid until the next call. */
  async get(pos: number, length: number): Promise<Buffer> {
    if (pos >= this.#start && pos + length <= this.#end) return this.#buf.subarray(pos - this.#start, pos - this.#start + length);
    if (length > this.#buf.length) {
      const big = Buffer.allocUnsafe(length);
      await this.#seg.read(big, 0, length, pos);
      return big;
    }
    // Small records: read a whole window (the data comes along, cheaply, from
    // the page cache; a syscall per header would cost more). Past a large
    // record, read just around the next header: its data is not read.
    const jump = pos - this.#end;
    const want = this.#end > 0 && (jump > JUMP_BYTES || pos < this.#start) ? SMALL_READ_BYTES : WINDOW_BYTES;
    const n = Math.min(Math.max(want, length), this.#fileBytes - pos);
    await this.#seg.read(this.#buf, 0, n, pos);
    this.#start = pos;
    this.#end = pos + n;
    return this.#buf.subarray(0, length);
  }
}
