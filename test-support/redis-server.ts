// A redis-server of a test's own: no persistence, on a port the test chose (pickFreePort), so that
// a test can SIGKILL it and start it again on the same port without touching the machine's shared
// Redis. startRedis resolves once the server answers PING; killed() SIGKILLs and waits for the exit.
// Needs the redis-server binary (docs/testing.md). With a password (requirepass) the server reads its
// configuration from stdin, so that the password is not in its command line (public, like every
// process's: engine/store-secrets.test.ts reads them all).

import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { sleep } from '../aggregator/clock.ts';

/** A redis-server of our own (no persistence) on `port`, with a password if given; resolves once it answers PING. */
export async function startRedis(port: number, options: { password?: string } = {}): Promise<ChildProcess> {
  const child = spawn('redis-server', ['-'], { stdio: ['pipe', 'ignore', 'ignore'] });
  const config = [`port ${port}`, 'bind 127.0.0.1', 'save ""', 'appendonly no', ...(options.password === undefined ? [] : [`requirepass "${options.password}"`])];
  child.stdin!.end(`${config.join('\n')}\n`);
  const probe = new Redis({ port, host: '127.0.0.1', password: options.password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => {});
  let ready = false;
  try {
    const deadline = Date.now() + 5_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`redis-server on port ${port} exited with ${child.exitCode}`);
      const answered = await probe.connect().then(
        () => probe.ping().then(() => true),
        () => false,
      );
      if (answered) {
        ready = true;
        return child;
      }
      probe.disconnect();
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING within 5 s`);
      await sleep(50);
    }
  } finally {
    probe.disconnect();
    // A server that never answered is not left running behind a failed test.
    if (!ready) await killed(child);
  }
}

export function killed(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}
