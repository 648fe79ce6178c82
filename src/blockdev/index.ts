export type { BlockDevice, Extent, SocketReceipt, ZeroOptions } from "./block-device.js";
export { pushExtent } from "./block-device.js";
export {
  BlockDeviceError,
  DeviceIoError,
  NoSpaceError,
  NotSupportedError,
  ReadOnlyError,
  fromSystemError,
} from "./errors.js";
export { FileDevice, type FileDeviceOptions } from "./file-device.js";
export { MemoryDevice } from "./memory-device.js";
export { Flusher } from "./flusher.js";
export { SwitchDevice } from "./switch-device.js";
