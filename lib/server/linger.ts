// A lingering close, as nginx and Apache do it, for an answer sent before the request's body was
// read to its end (413 for a body over the limit). Node closes such a connection as soon as the
// answer is written; the client is still sending, so the kernel answers the unread bytes with a
// reset, and a reset that reaches the client before it has read the answer discards the answer
// (the client sees ECONNRESET, not 413). Here the socket sends the answer and a FIN, then reads and
// drops what the client still sends until the client closes, it goes quiet for `idleMs`, or
// `totalMs` have passed; only then is it destroyed.
import type { Socket } from 'node:net';

export interface LingerLimits {
  idleMs: number;
  totalMs: number;
}

/** nginx's lingering_timeout and lingering_time. */
export const LINGER: LingerLimits = { idleMs: 5_000, totalMs: 30_000 };

const lingering = new WeakSet<Socket>();

/** Makes Node's close of `socket` after the current answer (its destroySoon) a lingering one. */
export function lingerOnClose(socket: Socket | null | undefined, limits: LingerLimits = LINGER): void {
  if (!socket || socket.destroyed || lingering.has(socket)) return;
  lingering.add(socket);
  const s = socket as Socket & { destroySoon?: () => void };
  s.destroySoon = () => {
    socket.end();
    const close = () => {
      clearTimeout(idle);
      clearTimeout(total);
      socket.destroy();
    };
    const idle = setTimeout(close, limits.idleMs);
    const total = setTimeout(close, limits.totalMs);
    socket.on('data', () => idle.refresh());
    socket.once('end', close);
    socket.once('close', close);
    socket.once('error', close);
    socket.resume();
  };
}
