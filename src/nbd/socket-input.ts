/**
 * Reading a client's bytes into buffers of our choosing.
 *
 * By default Node reads a TCP socket 64 KiB at a time into a fresh buffer per
 * read; a 1 MiB WRITE then costs 16 allocations and events and a copy to
 * gather it, and with that our 1 MiB writes used twice nbdkit's CPU. Node's
 * `onread` option lets a socket read into a buffer we hand it for every read,
 * so the rest of a WRITE's data can be read straight to where it belongs. Node
 * offers `onread` only on sockets it constructs for `connect`, so an accepted
 * socket (created paused, before any read) is re-wrapped around its handle.
 * That uses `socket._handle`, which Node does not document; if it is ever
 * missing, `adoptSocket` returns null and the caller reads the plain way.
 */
import net from "node:net";

export function adoptSocket(
  socket: net.Socket,
  nextBuffer: () => Buffer,
  onRead: (chunk: Buffer) => void,
): net.Socket | null {
  const internal = socket as unknown as { _handle?: object | null };
  const handle = internal._handle;
  if (!handle || socket.readableFlowing) return null;
  // Detach the handle first, so destroying the old wrapper (which keeps the
  // server's connection count right) does not close the connection.
  internal._handle = null;
  socket.destroy();
  return new net.Socket({
    handle,
    readable: true,
    writable: true,
    onread: {
      buffer: nextBuffer,
      callback: (bytes: number, buffer: Uint8Array) => {
        onRead(Buffer.from(buffer.buffer, buffer.byteOffset, bytes));
        return true;
      },
    },
  } as net.SocketConstructorOpts);
}
