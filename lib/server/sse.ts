// Server-Sent Events on a Fastify reply: the reply is taken over, a comment keeps idle connections
// open (and tells a dead client apart), and everything is released when either side closes.
import type { FastifyReply, FastifyRequest } from 'fastify';

export interface SseStream {
  send(data: unknown, event?: string): void;
  close(): void;
  readonly closed: boolean;
  onClose(fn: () => void): void;
}

export function openSse(req: FastifyRequest, reply: FastifyReply, keepAliveMs = 15_000): SseStream {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  res.write(': connected\n\n');
  let closed = false;
  const closers: Array<() => void> = [];
  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(timer);
    for (const f of closers) f();
    res.end();
  };
  const timer = setInterval(() => res.write(': keep-alive\n\n'), keepAliveMs);
  req.raw.on('close', close);
  res.on('close', close);
  return {
    send(data, event) {
      if (closed) return;
      res.write(`${event ? `event: ${event}\n` : ''}data: ${JSON.stringify(data)}\n\n`);
    },
    close,
    get closed() {
      return closed;
    },
    onClose(fn) {
      if (closed) fn();
      else closers.push(fn);
    },
  };
}
