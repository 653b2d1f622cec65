// A page loaded in headless Chromium (Debian's `chromium`, or the binary CHROMIUM names), driven over
// the DevTools protocol on a pipe (--remote-debugging-pipe: commands on fd 3, replies on fd 4, each
// message JSON ended by a NUL), so no WebSocket and no port. It reports what a reader's browser
// would show and do: console errors and uncaught exceptions, every request the page made (and the
// ones that failed), and a PNG screenshot of the viewport. Host names resolve to nothing
// (--host-resolver-rules), so the page is loaded offline: a request to the network fails and is
// reported. Every wait is bounded; the browser is killed (by its pid) if it does not close.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

export const CHROMIUM = process.env.CHROMIUM ?? 'chromium';

export interface PageCheck {
  /** console.error/assert calls, uncaught exceptions and the browser's own error log entries (a blocked load, a CSP violation). */
  console_errors: string[];
  /** Every URL the page requested, the page itself included. */
  requests: string[];
  /** Requests that failed: "url: error". */
  failed_requests: string[];
  /** The viewport as PNG. */
  screenshot: Buffer;
  /** The value of options.evaluate in the loaded page (JSON-able), undefined without one. */
  value: unknown;
}

export interface PageCheckOptions {
  width?: number;
  height?: number;
  /** The whole check, browser start to close (default 60 s). */
  timeout_ms?: number;
  /** A JavaScript expression evaluated in the page once it has loaded (what it shows: e.g. the size of an element). */
  evaluate?: string;
}

/** Throws, saying how to install it, when the chromium binary cannot be run. */
export function requireChromium(): string {
  const probe = spawnSync(CHROMIUM, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `cannot run ${CHROMIUM} (${probe.error?.message ?? `exit ${probe.status}: ${probe.stderr.trim()}`}): the HTML report tests need headless Chromium — install Debian's \`chromium\` package (apt-get install chromium) or set CHROMIUM to its binary`,
    );
  }
  return probe.stdout.trim();
}

interface Message {
  id?: number;
  method?: string;
  params?: Record<string, any>;
  result?: Record<string, any>;
  error?: { message: string };
  sessionId?: string;
}

/** Loads url in a fresh headless Chromium and reports what happened (PageCheck). */
export async function checkPage(url: string, options: PageCheckOptions = {}): Promise<PageCheck> {
  const width = options.width ?? 1280;
  const height = options.height ?? 2000;
  const profile = mkdtempSync(join(tmpdir(), 'chaosbench-chromium-'));
  const child = spawn(
    CHROMIUM,
    [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      '--remote-debugging-pipe',
      `--user-data-dir=${profile}`,
      `--window-size=${width},${height}`,
      '--host-resolver-rules=MAP * ~NOTFOUND',
      '--no-first-run',
      '--no-default-browser-check',
      '--disable-extensions',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      'about:blank',
    ],
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
  const toBrowser = child.stdio[3] as Writable;
  const fromBrowser = child.stdio[4] as Readable;

  const pending = new Map<number, { resolve: (result: Record<string, any>) => void; reject: (error: Error) => void }>();
  const listeners: ((message: Message) => void)[] = [];
  let exited: Error | undefined;
  const failAll = (error: Error) => {
    exited ??= error;
    for (const { reject } of pending.values()) reject(error);
    pending.clear();
  };
  child.once('error', (error) => failAll(error));
  child.once('exit', (code, signal) => failAll(new Error(`chromium exited (${code ?? signal}) before the check was done: ${stderr.trim().slice(-800)}`)));
  toBrowser.on('error', (error) => failAll(error));

  let buffered = '';
  fromBrowser.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    for (let end = buffered.indexOf('\0'); end >= 0; end = buffered.indexOf('\0')) {
      const message = JSON.parse(buffered.slice(0, end)) as Message;
      buffered = buffered.slice(end + 1);
      if (message.id !== undefined) {
        const waiter = pending.get(message.id);
        pending.delete(message.id);
        if (message.error) waiter?.reject(new Error(`DevTools: ${message.error.message}`));
        else waiter?.resolve(message.result ?? {});
      } else for (const listener of listeners) listener(message);
    }
  });

  let nextId = 1;
  const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, any>> => {
    if (exited) return Promise.reject(exited);
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      toBrowser.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
    });
  };

  const check: Omit<PageCheck, 'screenshot' | 'value'> = { console_errors: [], requests: [], failed_requests: [] };
  const requestUrls = new Map<string, string>();
  let loaded: () => void = () => {};
  const load = new Promise<void>((resolve) => (loaded = resolve));
  listeners.push((message) => {
    const p = message.params ?? {};
    switch (message.method) {
      case 'Runtime.consoleAPICalled':
        if (p.type === 'error' || p.type === 'assert') check.console_errors.push(`console.${p.type}: ${(p.args ?? []).map((a: any) => a.value ?? a.description ?? '').join(' ')}`);
        break;
      case 'Runtime.exceptionThrown':
        check.console_errors.push(`exception: ${p.exceptionDetails?.exception?.description ?? p.exceptionDetails?.text}`);
        break;
      case 'Log.entryAdded':
        if (p.entry?.level === 'error') check.console_errors.push(`${p.entry.source}: ${p.entry.text}${p.entry.url ? ` (${p.entry.url})` : ''}`);
        break;
      case 'Network.requestWillBeSent':
        requestUrls.set(p.requestId, p.request.url);
        check.requests.push(p.request.url);
        break;
      case 'Network.loadingFailed':
        check.failed_requests.push(`${requestUrls.get(p.requestId) ?? p.requestId}: ${p.errorText || 'failed'}${p.blockedReason ? ` (blocked: ${p.blockedReason})` : ''}`);
        break;
      case 'Page.loadEventFired':
        loaded();
        break;
    }
  });

  const timeoutMs = options.timeout_ms ?? 60_000;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`chromium check of ${url} took more than ${timeoutMs} ms: ${stderr.trim().slice(-800)}`)), timeoutMs);
  });
  try {
    const { screenshot, value } = await Promise.race([
      deadline,
      (async () => {
        const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
        const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true });
        for (const domain of ['Runtime', 'Log', 'Network', 'Page']) await send(`${domain}.enable`, {}, sessionId);
        await send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false }, sessionId);
        const navigation = await send('Page.navigate', { url }, sessionId);
        if (navigation.errorText) throw new Error(`chromium could not open ${url}: ${navigation.errorText}`);
        await load;
        // Whatever the page does on load has run once the event loop of the page has turned: ask it.
        const evaluated = await send('Runtime.evaluate', { expression: options.evaluate ?? 'document.readyState', returnByValue: true }, sessionId);
        if (evaluated.exceptionDetails) throw new Error(`evaluating ${options.evaluate}: ${evaluated.exceptionDetails.exception?.description ?? evaluated.exceptionDetails.text}`);
        const { data } = await send('Page.captureScreenshot', { format: 'png' }, sessionId);
        return { screenshot: Buffer.from(data as string, 'base64'), value: options.evaluate === undefined ? undefined : evaluated.result?.value };
      })(),
    ]);
    return { ...check, screenshot, value };
  } finally {
    clearTimeout(timer);
    await close(child, () => send('Browser.close').catch(() => undefined));
    rmSync(profile, { recursive: true, force: true });
  }
}

/** Asks the browser to close, then kills it (its own pid) if it has not exited within 10 s. */
async function close(child: ReturnType<typeof spawn>, ask: () => Promise<unknown>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void ask();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), 10_000)));
  if ((await Promise.race([exited, late])) === 'late') {
    child.kill('SIGKILL');
    await exited;
  }
  clearTimeout(timer);
}

/** Width and height of a PNG, from its IHDR chunk; throws if the bytes are not a PNG. */
export function pngSize(png: Buffer): { width: number; height: number } {
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (png.length < 24 || !png.subarray(0, 8).equals(signature) || png.toString('latin1', 12, 16) !== 'IHDR') throw new Error('not a PNG');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}
