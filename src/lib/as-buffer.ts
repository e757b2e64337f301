/** `bytes` as a Buffer over the same memory, without a copy (for Buffer's string decoding and searches). */
export const asBuffer = (bytes: Uint8Array): Buffer => (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
