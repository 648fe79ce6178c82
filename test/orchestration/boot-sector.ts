/**
 * A 512-byte x86 boot sector that prints one line to the first serial port
 * and halts: the smallest "VM" whose console tells which point in time it
 * booted from. Hand-assembled (real mode, loaded at 0x7c00):
 *
 *   cli; xor ax,ax; mov ds,ax; mov si,msg; mov dx,0x3f8
 *   loop: lodsb; test al,al; jz done; out dx,al; jmp loop
 *   done: hlt; jmp $
 *   msg: db "<marker>", 13, 10, 0
 */
const CODE = [0xfa, 0x31, 0xc0, 0x8e, 0xd8, 0xbe, 0x16, 0x7c, 0xba, 0xf8, 0x03, 0xac, 0x84, 0xc0, 0x74, 0x03, 0xee, 0xeb, 0xf8, 0xf4, 0xeb, 0xfe];

export function bootSector(marker: string): Buffer {
  const message = Buffer.from(`${marker}\r\n\0`, "latin1");
  if (CODE.length + message.length > 510) throw new Error("marker too long for a boot sector");
  const sector = Buffer.alloc(512);
  Buffer.from(CODE).copy(sector, 0);
  message.copy(sector, CODE.length);
  sector[510] = 0x55;
  sector[511] = 0xaa;
  return sector;
}
