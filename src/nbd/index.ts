export { NbdServer, type NbdServerOptions } from "./server.js";
export { StaticExports, type ExportProvider, type NbdExport } from "./exports.js";
export type { ConnectionLimits } from "./connection.js";
export { silentLogger, type Logger } from "./logger.js";
export { NbdProtocolError, NbdRequestError } from "./errors.js";
