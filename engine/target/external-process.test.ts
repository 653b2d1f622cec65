// The external target's process handling (external-process.ts) with small real programs (node -e):
// the three ready forms, a ready timeout and an exit before ready (each with the stderr tail), the
// stop signal with SIGKILL after the grace period, a SIGKILL that reaches the whole process group,
// an exit nobody asked for, and the contract's environment.

import { describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { TYPESCRIPT_EXEC_ARGV } from '../typescript-child.ts';
import { sleep } from '../../aggregator/clock.ts';
import type { ScenarioTarget } from '../../scenarios/schema.ts';
import { ExternalProcess } from './external-process.ts';

const node = (script: string): string[] => [process.execPath, '-e', script];
const target = (command: string[], rest: Partial<ScenarioTarget> = {}): ScenarioTarget => ({ command, ready: { log_line: '^ready$' }, sink: { kind: 'reference-schema' }, ...rest });

/** Running (a zombie no reaper has collected yet counts as gone). */
function alive(pid: number): boolean {
  try {
    return !execFileSync('ps', ['-o', 'stat=', '-p', String(pid)]).toString().trim().startsWith('Z');
  } catch {
    return false; // ps exits 1 when there is no such process
  }
}

describe('ExternalProcess', () => {
  it('is ready at its log line (stdout or stderr) and sees the contract environment and its own env', async () => {
    const script = "console.error(process.env.CHAOSBENCH_CLIENT_ID + ' ' + process.env.MY_SETTING); setTimeout(() => console.log('ready'), 200); setInterval(() => {}, 1000)";
    const p = new ExternalProcess(target(node(script), { env: { MY_SETTING: 'on' } }), { CHAOSBENCH_CLIENT_ID: 'client-7' });
    await p.start();
    expect(p.stderrTail()).toContain('client-7 on');
    await p.stop();
    expect(p.unexpected_exits).toEqual([]);
  });

  it('is ready when its TCP port accepts connections', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    server.close();
    await new Promise((resolve) => server.once('close', resolve));
    const script = `setTimeout(() => require('net').createServer().listen(${port}, '127.0.0.1'), 300)`;
    const p = new ExternalProcess(target(node(script), { ready: { tcp_port: port } }), {});
    const started = Date.now();
    await p.start();
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    await p.stop();
  });

  it('refuses a target not ready in time, with the tail of its stderr, and leaves no process behind', async () => {
    const p = new ExternalProcess(target(node("console.error('connecting to the broker…'); setInterval(() => {}, 1000)"), { ready_timeout_ms: 500 }), {});
    await expect(p.start()).rejects.toThrow(/^the target was not ready within 500 ms \(target\.ready \{"log_line":"\^ready\$"\}\); its stderr ended with:\nconnecting to the broker…$/);
    expect(alive(p.pid!)).toBe(false);
  });

  it('refuses a target that exits before it is ready, and one that cannot be started', async () => {
    const p = new ExternalProcess(target(node("console.error('no such table: events'); process.exit(4)")), {});
    await expect(p.start()).rejects.toThrow(/^the target exited \(code 4\) before it was ready; its stderr ended with:\nno such table: events$/);
    const missing = new ExternalProcess(target(['/nonexistent/consumer']), {});
    await expect(missing.start()).rejects.toThrow(/^the target could not be started \(\/nonexistent\/consumer\): .*ENOENT/);
  });

  it('stops with its stop signal, and SIGKILLs one that ignores it after the grace period', async () => {
    const polite = new ExternalProcess(target(node("process.on('SIGINT', () => { console.error('bye'); process.exit(0) }); console.log('ready'); setInterval(() => {}, 1000)"), { stop_signal: 'SIGINT' }), {});
    await polite.start();
    await polite.stop();
    expect(polite.stderrTail()).toContain('bye');
    const stubborn = new ExternalProcess(target(node("process.on('SIGTERM', () => {}); console.log('ready'); setInterval(() => {}, 1000)"), { stop_grace_ms: 300 }), {});
    await stubborn.start();
    const started = Date.now();
    await stubborn.stop();
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(alive(stubborn.pid!)).toBe(false);
    expect(stubborn.unexpected_exits).toEqual([]);
  });

  it('SIGKILLs the whole process group: a child the target started goes too', async () => {
    // The target starts a child of its own: a SIGKILL of the target alone would orphan it.
    const script = "require('child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' }); setTimeout(() => console.log('ready'), 200); setInterval(() => {}, 1000)";
    const p = new ExternalProcess(target(node(script)), {});
    await p.start();
    const group = execFileSync('ps', ['-o', 'pid=', '-g', String(p.pid)]).toString().trim().split(/\s+/).map(Number);
    expect(group.length).toBe(2);
    for (const pid of group) expect(alive(pid), `pid ${pid} of the group before the kill`).toBe(true);
    await p.kill();
    await sleep(200);
    for (const pid of group) expect(alive(pid), `pid ${pid} of the group`).toBe(false);
  });

  it('a harness stopped by Ctrl-C (SIGINT) takes its target group with it, and still dies of the SIGINT', async () => {
    // A detached group does not get the terminal's SIGINT: the harness must kill it on its way out.
    const module = pathToFileURL(join(import.meta.dirname, 'external-process.ts')).href;
    const harness = spawn(
      process.execPath,
      [
        ...TYPESCRIPT_EXEC_ARGV,
        '--input-type=module',
        '-e',
        `const { ExternalProcess } = await import(${JSON.stringify(module)});
         const p = new ExternalProcess({ command: [process.execPath, '-e', "console.log('ready'); setInterval(() => {}, 1000)"], ready: { log_line: '^ready$' }, sink: { kind: 'reference-schema' } }, {});
         await p.start();
         console.log('target ' + p.pid);
         setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const targetPid = await new Promise<number>((resolve) => {
      let out = '';
      harness.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const match = /target (\d+)/.exec(out);
        if (match) resolve(Number(match[1]));
      });
    });
    expect(alive(targetPid)).toBe(true);
    const exited = new Promise<NodeJS.Signals | null>((resolve) => harness.once('exit', (_code, signal) => resolve(signal)));
    harness.kill('SIGINT');
    expect(await exited).toBe('SIGINT');
    await sleep(200);
    expect(alive(targetPid)).toBe(false);
  }, 60_000);

  it('records an exit nobody asked for', async () => {
    const p = new ExternalProcess(target(node("console.log('ready'); setTimeout(() => { console.error('segfault, say'); process.exit(9) }, 200)")), {});
    await p.start();
    await sleep(600);
    expect(p.unexpected_exits).toEqual([{ at_s: expect.any(Number), code: 9, signal: null }]);
    expect(p.stderrTail()).toContain('segfault, say');
    await p.stop();
  });
});
