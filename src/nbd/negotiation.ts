/**
 * The option haggling of the fixed newstyle handshake: one option in, its
 * replies out, and what happens next (go on, start transmission, or hang up).
 * Holds what the client chose (structured replies, meta contexts) for the
 * transmission phase. Unknown options get ERR_UNSUP and the haggling goes on.
 */
import { optionError, optionReply, exportNameReply, infoBlockSize, infoExport, infoString, metaContextEntry, parseInfoRequest, parseMetaContextRequest, serverEntry, OptionDataError } from "./handshake.js";
import type { ExportProvider, NbdExport } from "./exports.js";
import { BASE_ALLOCATION, BASE_ALLOCATION_ID, Info, Opt, Rep, TF } from "./protocol.js";

export type Outcome =
  | { next: "continue" }
  | { next: "transmission"; exp: NbdExport }
  | { next: "close"; reason: string };

export interface Choices {
  structuredReplies: boolean;
  /** Whether base:allocation was selected for the export being served. */
  baseAllocation: boolean;
  noZeroes: boolean;
}

const OPTION_NAMES: Record<number, string> = Object.fromEntries(Object.entries(Opt).map(([k, v]) => [v, k]));

export function optionName(option: number): string {
  return OPTION_NAMES[option] ?? `option ${option}`;
}

export function transmissionFlags(exp: NbdExport, structuredReplies: boolean): number {
  let flags = TF.HAS_FLAGS | TF.SEND_FLUSH | TF.SEND_FUA | TF.CAN_MULTI_CONN | TF.SEND_CACHE;
  if (exp.device.readOnly) flags |= TF.READ_ONLY;
  else flags |= TF.SEND_TRIM | TF.SEND_WRITE_ZEROES | TF.SEND_FAST_ZERO;
  if (structuredReplies) flags |= TF.SEND_DF;
  return flags;
}

export class Negotiation {
  readonly choices: Choices = { structuredReplies: false, baseAllocation: false, noZeroes: false };
  readonly #provider: ExportProvider;
  readonly #send: (reply: Buffer) => void;
  /** The export that SET_META_CONTEXT chose contexts for; they apply to it alone. */
  #metaExport: string | null = null;

  constructor(provider: ExportProvider, send: (reply: Buffer) => void) {
    this.#provider = provider;
    this.#send = send;
  }

  async option(option: number, data: Buffer): Promise<Outcome> {
    try {
      return await this.#option(option, data);
    } catch (err) {
      if (!(err instanceof OptionDataError)) throw err;
      this.#send(optionError(option, Rep.ERR_INVALID, `${optionName(option)}: ${err.message}`));
      return { next: "continue" };
    }
  }

  tooBig(option: number, length: number): Outcome {
    // EXPORT_NAME has no error reply: its client reads size and flags next, so hang up.
    if (option === Opt.EXPORT_NAME) return { next: "close", reason: `an export name of ${length} bytes is too long` };
    this.#send(optionError(option, Rep.ERR_TOO_BIG, `${optionName(option)} of ${length} bytes is too big`));
    return { next: "continue" };
  }

  async #option(option: number, data: Buffer): Promise<Outcome> {
    switch (option) {
      case Opt.EXPORT_NAME:
        return this.#exportName(data.toString("utf8"));
      case Opt.ABORT:
        this.#send(optionReply(option, Rep.ACK));
        return { next: "close", reason: "the client aborted the handshake" };
      case Opt.LIST:
        if (data.length !== 0) return this.#invalid(option, "LIST takes no data");
        for (const name of await this.#provider.list()) this.#send(optionReply(option, Rep.SERVER, serverEntry(name, undefined)));
        this.#send(optionReply(option, Rep.ACK));
        return { next: "continue" };
      case Opt.INFO:
      case Opt.GO:
        return this.#infoOrGo(option, data);
      case Opt.STRUCTURED_REPLY:
        if (data.length !== 0) return this.#invalid(option, "STRUCTURED_REPLY takes no data");
        if (this.choices.structuredReplies) return this.#invalid(option, "structured replies are already on");
        this.choices.structuredReplies = true;
        this.#send(optionReply(option, Rep.ACK));
        return { next: "continue" };
      case Opt.LIST_META_CONTEXT:
      case Opt.SET_META_CONTEXT:
        return this.#metaContext(option, data);
      case Opt.STARTTLS:
        this.#send(optionError(option, Rep.ERR_UNSUP, "this server does not offer TLS on NBD; it listens on loopback"));
        return { next: "continue" };
      default:
        this.#send(optionError(option, Rep.ERR_UNSUP, `${optionName(option)} is not supported`));
        return { next: "continue" };
    }
  }

  async #exportName(name: string): Promise<Outcome> {
    const exp = await this.#provider.open(name);
    // The protocol has no error reply for EXPORT_NAME: hanging up is the answer.
    if (!exp) return { next: "close", reason: `no export named "${name}"` };
    this.choices.baseAllocation = false;
    this.#send(exportNameReply(exp.device.size, transmissionFlags(exp, this.choices.structuredReplies), this.choices.noZeroes));
    return { next: "transmission", exp };
  }

  async #infoOrGo(option: number, data: Buffer): Promise<Outcome> {
    const { name, requests } = parseInfoRequest(data);
    const exp = await this.#provider.open(name);
    if (!exp) {
      this.#send(optionError(option, Rep.ERR_UNKNOWN, `no export named "${name}"`));
      return { next: "continue" };
    }
    const flags = transmissionFlags(exp, this.choices.structuredReplies);
    this.#send(optionReply(option, Rep.INFO, infoExport(exp.device.size, flags)));
    for (const request of new Set(requests)) {
      if (request === Info.NAME) this.#send(optionReply(option, Rep.INFO, infoString(Info.NAME, exp.name)));
      if (request === Info.DESCRIPTION && exp.description) {
        this.#send(optionReply(option, Rep.INFO, infoString(Info.DESCRIPTION, exp.description)));
      }
      if (request === Info.BLOCK_SIZE) this.#send(optionReply(option, Rep.INFO, infoBlockSize()));
    }
    this.#send(optionReply(option, Rep.ACK));
    if (option === Opt.INFO) {
      await this.#provider.release?.(exp);
      return { next: "continue" };
    }
    if (this.#metaExport !== name) this.choices.baseAllocation = false;
    return { next: "transmission", exp };
  }

  #metaContext(option: number, data: Buffer): Outcome {
    const setting = option === Opt.SET_META_CONTEXT;
    if (setting && !this.choices.structuredReplies) {
      return this.#invalid(option, "negotiate STRUCTURED_REPLY before SET_META_CONTEXT");
    }
    const { name, queries } = parseMetaContextRequest(data);
    const matches = setting
      ? queries.some((q) => q === BASE_ALLOCATION)
      : queries.length === 0 || queries.some((q) => q === BASE_ALLOCATION || q === "base:");
    if (matches) this.#send(optionReply(option, Rep.META_CONTEXT, metaContextEntry(BASE_ALLOCATION_ID, BASE_ALLOCATION)));
    this.#send(optionReply(option, Rep.ACK));
    if (setting) {
      this.choices.baseAllocation = matches;
      this.#metaExport = name;
    }
    return { next: "continue" };
  }

  #invalid(option: number, message: string): Outcome {
    this.#send(optionError(option, Rep.ERR_INVALID, message));
    return { next: "continue" };
  }
}
