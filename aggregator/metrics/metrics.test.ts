// The aggregator's /metrics (issue 20) on a real service taking real events over its HTTP ingest:
// the counters as the pipeline counts them, HELP labelled self-reported, only GET /metrics; the port
// over IPC to the harness, kept across a restart, and a last scrape that sees the final counters
// before the process exits; a port that cannot be bound fails the start (the command: exit 3).

import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { ulid } from 'ulid';
import { afterEach, describe, expect, it } from 'vitest';
import { AggregatorService, DEFAULT_AGGREGATOR_CONFIG, NO_BROKER, type AggregatorConfig } from '../service.ts';
import { AggregatorProcess } from '../../engine/aggregator-process.ts';
import { serializeEvent } from '../event/parse.ts';
import type { Event } from '../event/types.ts';
import { AGGREGATOR_COUNTERS, AGGREGATOR_METRIC_PREFIX } from './registry.ts';
import { tempDirs } from '../../test-support/temp-dirs.ts';
import { runTypeScript } from '../../test-support/run-command.ts';
import { EXIT } from '../../cli/exit.ts';

const newDir = tempDirs('aggregator-metrics');
const stops: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

const config = (change: Partial<AggregatorConfig> = {}): AggregatorConfig => ({
  ...DEFAULT_AGGREGATOR_CONFIG,
  broker_url: NO_BROKER,
  http_port: 0,
  metrics_port: 0,
  client_id: 'metrics-test',
  dedup: 'sqlite',
  sink: `sqlite:${join(newDir(), 'sink.db')}`,
  batch_wait_ms: 2,
  ...change,
});

function event(seq: number, eventId = ulid()): Event {
  return { v: 1, event_id: eventId, source: 'metrics-test', seq, topic: 'events/metrics-test', ts: '2026-11-25T06:25:00.123456Z', payload: { n: seq }, bench: { intended_us: 1_764_051_900_000_000 + seq } };
}

async function post(port: number, body: Event): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/events`, { method: 'POST', body: serializeEvent(body), headers: { 'content-type': 'application/json' } });
  await response.text();
  return response.status;
}

/** The samples of a scrape (name with labels → value) and its HELP lines. */
async function scrape(port: number, path = '/metrics'): Promise<{ status: number; samples: Map<string, number>; help: Map<string, string> }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  const text = await response.text();
  const samples = new Map<string, number>();
  const help = new Map<string, string>();
  for (const line of text.split('\n')) {
    const helpLine = /^# HELP (\S+) (.*)$/.exec(line);
    if (helpLine) help.set(helpLine[1]!, helpLine[2]!);
    else if (line !== '' && !line.startsWith('#')) {
      const at = line.lastIndexOf(' ');
      samples.set(line.slice(0, at), Number(line.slice(at + 1)));
    }
  }
  return { status: response.status, samples, help };
}

describe("the aggregator's /metrics", () => {
  it('shows the pipeline counters, labelled self-reported, and nothing but GET /metrics', async () => {
    const service = new AggregatorService(config());
    stops.push(() => service.stop().then(() => service.closeMetrics()));
    await service.start();
    const [httpPort, metricsPort] = [service.http_port!, service.metrics_port!];
    expect(metricsPort).toBeGreaterThan(0);
    const duplicate = event(1);
    expect([await post(httpPort, event(0)), await post(httpPort, duplicate), await post(httpPort, duplicate)]).toEqual([200, 200, 200]);
    const { status, samples, help } = await scrape(metricsPort);
    expect(status).toBe(200);
    const counters = service.counters!;
    expect(counters).toMatchObject({ received: 3, committed: 2, duplicates_absorbed: 1, acked: 3 });
    for (const [key, { name }] of Object.entries(AGGREGATOR_COUNTERS)) {
      expect(samples.get(`${AGGREGATOR_METRIC_PREFIX}${name}`), key).toBe(counters[key as keyof typeof AGGREGATOR_COUNTERS]);
    }
    expect(samples.get(`${AGGREGATOR_METRIC_PREFIX}batch_commit_seconds_count`)).toBe(counters.batches);
    expect(samples.get(`${AGGREGATOR_METRIC_PREFIX}in_flight_messages`)).toBe(0);
    expect(samples.get(`${AGGREGATOR_METRIC_PREFIX}consumer_lag_seconds`)).toBe(0);
    const names = [...help.keys()];
    expect(names.length).toBeGreaterThan(12);
    for (const name of names) {
      expect(name.startsWith(AGGREGATOR_METRIC_PREFIX), name).toBe(true);
      expect(help.get(name), name).toContain('(as the aggregator reports it)');
    }
    expect((await scrape(metricsPort, '/')).status).toBe(404);
  });

  it("adds the process's own figures (prom-client's defaults) under the aggregator's prefix, labelled self-reported: CPU, resident memory, heap", async () => {
    const service = new AggregatorService(config());
    stops.push(() => service.stop().then(() => service.closeMetrics()));
    await service.start();
    expect(await post(service.http_port!, event(0))).toBe(200);
    const { samples, help } = await scrape(service.metrics_port!);
    const process = (name: string) => samples.get(`${AGGREGATOR_METRIC_PREFIX}${name}`);
    expect(process('process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(process('process_cpu_seconds_total')).toBeGreaterThanOrEqual(process('process_cpu_user_seconds_total')!);
    expect(process('process_resident_memory_bytes')).toBeGreaterThan(10 * 2 ** 20);
    expect(process('nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(process('nodejs_heap_size_total_bytes')).toBeGreaterThanOrEqual(process('nodejs_heap_size_used_bytes')!);
    expect(process('process_start_time_seconds')).toBeGreaterThan(0);
    expect([...samples.keys()].some((name) => name.startsWith(`${AGGREGATOR_METRIC_PREFIX}nodejs_eventloop_lag_`))).toBe(true);
    // Never unprefixed: a merge with another process's registry cannot mix two processes' process_* series.
    expect([...samples.keys()].filter((name) => /^(process|nodejs)_/.test(name))).toEqual([]);
    expect(help.get(`${AGGREGATOR_METRIC_PREFIX}process_cpu_user_seconds_total`)).toBe('Total user CPU time spent in seconds. (as the aggregator reports it)');
  });

  it('a port that cannot be bound fails the start; the command exits 3 naming the cause', async () => {
    const holder: Server = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    stops.push(() => new Promise((resolve) => holder.close(resolve)));
    const taken = (holder.address() as { port: number }).port;
    const service = new AggregatorService(config({ metrics_port: taken }));
    await expect(service.start()).rejects.toThrow(/EADDRINUSE/);
    const outcome = await runTypeScript('aggregator/main.ts', ['--broker', 'none', '--http-port', '0', '--metrics-port', String(taken), '--dedup', 'memory', '--sink', `sqlite:${join(newDir(), 'sink.db')}`], { timeout_ms: 30_000 });
    expect(outcome.code, outcome.stderr).toBe(EXIT.invalid_run);
    expect(outcome.stderr).toContain('EADDRINUSE');
    expect(outcome.stderr).not.toMatch(/\n\s+at /);
  });

  it('as the harness runs it: the port comes over IPC, stays the same after a restart, and a last scrape after the drain sees the final counters', async () => {
    const aggregator = new AggregatorProcess(config());
    stops.push(() => aggregator.kill());
    await aggregator.start();
    const first = aggregator.metrics_port!;
    expect(first).toBeGreaterThan(0);
    expect(await post(aggregator.http_port!, event(0))).toBe(200);
    await aggregator.restart();
    expect(aggregator.metrics_port).toBe(first);
    // A new incarnation: its counters start again (Prometheus reads that as a counter reset).
    expect((await scrape(first)).samples.get(`${AGGREGATOR_METRIC_PREFIX}received_total`)).toBe(0);
    for (let i = 1; i <= 3; i++) expect(await post(aggregator.http_port!, event(i))).toBe(200);
    // Stopping with a final scrape: the drain takes milliseconds here, yet the endpoint is still
    // there a second later (without the wait the process exits at once) and goes once scraped.
    const stopped = aggregator.stop(15_000, 20_000);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const scrapes: Map<string, number>[] = [];
    for (let i = 0; i < 100; i++) {
      const seen = await scrape(first).catch(() => undefined);
      if (!seen) break;
      scrapes.push(seen.samples);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const last = scrapes.at(-1);
    expect(scrapes.length).toBeGreaterThanOrEqual(1);
    await stopped;
    expect(aggregator.counters).toMatchObject({ received: 3, committed: 3, acked: 3 });
    expect(last?.get(`${AGGREGATOR_METRIC_PREFIX}acked_total`)).toBe(3);
    expect(last?.get(`${AGGREGATOR_METRIC_PREFIX}committed_total`)).toBe(3);
  });
});
