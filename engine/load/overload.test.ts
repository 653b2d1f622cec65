// The open-model generator when it cannot keep its schedule, with real load workers: a schedule no
// generator can hand off (400,000 ev/s) on the embedded Aedes broker, and a broker that never sends a
// PUBACK (the windows stay full). Events more than load.max_lag_ms behind schedule are dropped and
// counted, never sent and never in the publish log; the offered rate is what was really handed off
// within the phase; the generator ends on time with its memory bounded; the run is invalid.

import net from 'node:net';
import type { AddressInfo } from 'node:net';
import mqttPacket from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { nowMicros } from '../../aggregator/clock.ts';
import { DEFAULT_AGGREGATOR, DEFAULT_LOAD } from '../../scenarios/defaults.ts';
import type { Phase, Scenario } from '../../scenarios/schema.ts';
import { startBroker, type BrokerHandle } from '../broker/index.ts';
import { assembleFromLoad } from '../../test-support/result-fixture.ts';
import { runLoad, type LoadOutcome } from './generator.ts';
import { QUEUED } from './log.ts';

function scenario(phases: Phase[], load: Partial<Scenario['load']>): Scenario {
  return {
    name: 'overload-test',
    description: 'a schedule the generator cannot keep',
    seed: 7,
    load: { ...DEFAULT_LOAD, ...load },
    phases,
    aggregator: { ...DEFAULT_AGGREGATOR },
    drain_timeout_s: 5,
    checks: [{ metric: 'lost', op: '==', value: 0 }],
  };
}

/** Events of the publish log flagged as handed to a connection: dropped events must not be among them. */
function logged(load: LoadOutcome): number {
  let n = 0;
  for (const record of load.log.sources.values()) for (let seq = 0; seq < record.count; seq++) if (record.flags[seq]! & QUEUED) n++;
  return n;
}

/** The run's result as the harness would assemble it, with nothing in the sink. */
function assemble(s: Scenario, load: LoadOutcome) {
  return assembleFromLoad('overload-test', s, load, [], new Set());
}

/** Answers CONNECT and never acknowledges a PUBLISH: every window stays full. */
async function silentBroker(): Promise<{ url: string; publishes: () => number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let publishes = 0;
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (packet: Packet) => {
      if (packet.cmd === 'connect') socket.write(mqttPacket.generate({ cmd: 'connack', returnCode: 0, sessionPresent: false }));
      else if (packet.cmd === 'publish') publishes++;
      else if (packet.cmd === 'pingreq') socket.write(mqttPacket.generate({ cmd: 'pingresp' }));
    });
    socket.on('data', (data) => parser.parse(data));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`,
    publishes: () => publishes,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('an open-model generator that cannot keep its schedule', () => {
  let broker: BrokerHandle | undefined;
  afterEach(async () => {
    await broker?.stop();
    broker = undefined;
  });

  it('drops events more than max_lag_ms late, counts them, offers what it really handed off, ends on time with bounded memory, and makes the run invalid', async () => {
    broker = await startBroker('embedded', { persistence: 'memory' });
    const MAX_LAG_MS = 300;
    const RATE = 400_000;
    const s = scenario([{ name: 'flood', duration_s: 1, rate: RATE, faults: [] }], { publishers: 3, workers: 2, max_lag_ms: MAX_LAG_MS });
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 50);
    let scheduleEnd = 0;
    const load = await runLoad({
      scenario: s,
      broker_url: broker.url,
      topic_root: 'events/overload-test',
      client_prefix: `overload-${process.pid}`,
      settle_timeout_ms: 3_000,
      onStarted: (start_us) => (scheduleEnd = start_us + 1_000_000),
    }).finally(() => clearInterval(sampler));
    const overrunS = (nowMicros() - scheduleEnd) / 1e6;
    const [flood] = load.phases;
    const handedOff = load.log.counters.published;

    // On time: the last events go out at most max_lag_ms late, then the settle and the close
    // (tolerant of a loaded machine, far below the tens of seconds the whole schedule would take).
    expect(overrunS).toBeLessThan(MAX_LAG_MS / 1000 + 4);
    expect((rssPeak - rssBefore) / 2 ** 20).toBeLessThan(300);
    // Every scheduled event was either handed off or dropped, and only the handed-off are in the log.
    expect(flood!.scheduled).toBe(RATE);
    expect(flood!.dropped_late + flood!.dropped_window).toBeGreaterThan(0);
    expect(handedOff + flood!.dropped_late + flood!.dropped_window).toBe(RATE);
    expect(logged(load)).toBe(handedOff);
    // Offered is what was handed off before the phase ended: far below the target, never the schedule.
    expect(flood!.handed_off).toBeLessThanOrEqual(handedOff);
    expect(flood!.handed_off).toBeLessThan(RATE * 0.95);
    // Nothing handed off was later than the bound (HDR keeps 3 significant digits).
    expect(flood!.lag.summary().max_ms).toBeLessThanOrEqual(MAX_LAG_MS * 1.002);

    const result = assemble(s, load);
    expect(result.valid).toBe(false);
    expect(result.invalid_reasons.join('\n')).toMatch(new RegExp(`the generator dropped ${flood!.dropped_late + flood!.dropped_window} events, more than ${MAX_LAG_MS} ms behind`));
    expect(result.invalid_reasons.join('\n')).toMatch(/the generator offered \d+ ev\/s in phase 'flood'/);
    expect(result.generator.dropped).toBe(flood!.dropped_late + flood!.dropped_window);
    expect(result.phases[0]!.dropped).toBe(result.generator.dropped);
    expect(result.phases[0]!.offered_per_s).toBe(flood!.handed_off);
    expect(result.throughput.offered_per_s).toBe(flood!.handed_off);
    // Dropped events were never sent: the ledger neither counts them as published nor as lost.
    expect(result.totals.published).toBe(handedOff);
    expect(result.totals.lost + result.totals.lost_unacked + result.totals.unique_committed).toBe(handedOff);
  }, 30_000);

  it('drops events whose connection has a window queue already max_lag_ms behind (PUBACKs never come), instead of queuing the schedule', async () => {
    const silent = await silentBroker();
    try {
      const MAX_LAG_MS = 250;
      const s = scenario([{ name: 'steady', duration_s: 1.5, rate: 200, faults: [] }], { publishers: 1, workers: 1, window: 2, max_lag_ms: MAX_LAG_MS, puback_timeout_ms: 60_000 });
      let scheduleEnd = 0;
      const load = await runLoad({
        scenario: s,
        broker_url: silent.url,
        topic_root: 'events/overload-test',
        client_prefix: `silent-${process.pid}`,
        settle_timeout_ms: 300,
        onStarted: (start_us) => (scheduleEnd = start_us + 1_500_000),
      });
      const overrunS = (nowMicros() - scheduleEnd) / 1e6;
      const [steady] = load.phases;
      const handedOff = load.log.counters.published;

      // What was queued: the window, then events due within max_lag_ms of the oldest waiting one
      // (200 ev/s × 0.25 s = 50), not the whole schedule.
      expect(handedOff).toBeLessThan(2 + 50 + 25);
      expect(logged(load)).toBe(handedOff);
      expect(silent.publishes()).toBe(2);
      expect(overrunS).toBeLessThan(0.3 + 1 + 3);
      // The generator itself kept up (200 ev/s); the full window made the queue late.
      expect(steady!.dropped_late).toBe(0);
      expect(steady!.dropped_window).toBeGreaterThan(0);
      expect(handedOff + steady!.dropped_window).toBe(300);

      const result = assemble(s, load);
      expect(result.valid).toBe(false);
      const n = steady!.dropped_window;
      expect(result.invalid_reasons).toContain(
        `the generator dropped ${n} events, more than ${MAX_LAG_MS} ms behind their intended send time, never sent (${n} in 'steady', ${n} of them behind a full window): the harness could not keep its schedule (events behind a full window: PUBACKs came too slowly for load.window)`,
      );
      expect(result.generator.dropped_window_full).toBe(steady!.dropped_window);
    } finally {
      await silent.close();
    }
  }, 30_000);
});
