import { describe, expect, it } from 'vitest';
import { dupStorm } from './shipped/dup-storm.ts';
import { SCENARIOS } from './index.ts';
import { MAX_FILLER_BYTES, validateScenario } from './validate.ts';
import { parseEvent, serializeEvent } from '../aggregator/event/parse.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES } from '../aggregator/event/types.ts';
import { MIN_MAX_PUBLISH_BYTES, MQTT_MAX_REMAINING_LENGTH, type Scenario } from './schema.ts';
import { poisonPayload } from '../engine/faults/poison.ts';
import { checkAggregatorConfig, DEFAULT_AGGREGATOR_CONFIG } from '../aggregator/config.ts';

/** A deep copy that tests may break freely. */
function scenario(): Record<string, any> {
  return structuredClone(dupStorm) as Record<string, any>;
}

function errorsOf(input: unknown): string[] {
  const result = validateScenario(input);
  if (result.ok) throw new Error('expected the scenario to be rejected');
  return result.errors;
}

describe('validateScenario: target (your own consumer)', () => {
  const target = { command: ['node', 'consumer.js'], ready: { log_line: 'subscribed' }, sink: { kind: 'query', query: 'SELECT event_id FROM t' } };

  it('accepts a target, with or without its optional fields', () => {
    expect(validateScenario({ ...scenario(), target }).ok).toBe(true);
    const full = { ...target, env: { LOG_LEVEL: 'debug' }, ready: { tcp_port: 8080 }, ready_timeout_ms: 5_000, stop_signal: 'SIGINT', stop_grace_ms: 0, sink: { ...target.sink, event_id_column: 'id', commit_time_column: 'at', commit_time_unit: 'us' } };
    expect(validateScenario({ ...scenario(), target: full }).ok).toBe(true);
    expect(validateScenario({ ...scenario(), target: { ...target, ready: { delay_ms: 500 }, sink: { kind: 'reference-schema' } } }).ok).toBe(true);
  });

  it('names every bad field of a target', () => {
    expect(
      errorsOf({
        ...scenario(),
        target: { command: 'node consumer.js', env: { CHAOSBENCH_CLIENT_ID: 'x', 'BAD-NAME': 'y', PORT: 8 }, ready: { log_line: 'a', delay_ms: 1 }, stop_signal: 'SIGKILL', sink: { kind: 'query', query: '', commit_time_unit: 'ns' }, extra: 1 },
      }),
    ).toEqual([
      'target.extra is not a known field (known: command, env, ready, ready_timeout_ms, stop_signal, stop_grace_ms, sink)',
      'target.command must be a non-empty list of non-empty strings (the program and its arguments), got "node consumer.js"',
      "target.env.CHAOSBENCH_CLIENT_ID: names starting with CHAOSBENCH_ are the harness's to set (docs/bring-your-own-consumer.md)",
      'target.env.BAD-NAME is not a valid environment variable name',
      'target.env.PORT must be a string, got 8',
      'target.ready must have exactly one of log_line, tcp_port, delay_ms, got ["log_line","delay_ms"]',
      'target.stop_signal must be one of SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, got "SIGKILL"',
      'target.sink.query must be a non-empty string',
      'target.sink.commit_time_unit must be one of ms, us, s, got "ns"',
    ]);
    expect(errorsOf({ ...scenario(), target: { ...target, ready: { tcp_port: 70_000 }, sink: { kind: 'kafka' } } })).toEqual([
      'target.ready.tcp_port must be an integer in [1, 65535], got 70000',
      "target.sink.kind must be 'reference-schema' or 'query', got \"kafka\"",
    ]);
  });
});

describe('validateScenario', () => {
  it('accepts dup-storm as shipped, returning it unchanged', () => {
    const result = validateScenario(dupStorm);
    expect(result).toEqual({ ok: true, scenario: dupStorm, dedup: { kind: 'sqlite' } });
  });

  it('accepts every shipped scenario', () => {
    for (const [name, shipped] of Object.entries(SCENARIOS)) {
      expect(validateScenario(shipped).ok, name).toBe(true);
      expect(shipped.name).toBe(name);
    }
  });

  it("refuses a load.payload_bytes whose events the aggregator would dead-letter, naming both limits; the boundary is the aggregator's own", () => {
    const atLimit = scenario();
    atLimit.load.payload_bytes = MAX_FILLER_BYTES;
    expect(validateScenario(atLimit).ok).toBe(true);
    for (const bytes of [MAX_FILLER_BYTES + 1, 1_000_000]) {
      const over = scenario();
      over.load.payload_bytes = bytes;
      expect(errorsOf(over)).toEqual([
        `load.payload_bytes must be at most ${MAX_FILLER_BYTES}, got ${bytes}: each event's payload would be ${bytes + 11} bytes serialized, over the aggregator's max_payload_bytes of ${DEFAULT_MAX_PAYLOAD_BYTES}, so it would dead-letter every event`,
      ]);
    }
    // The aggregator's parser, fed an event shaped as the harness publishes it, draws the line at the same byte.
    const event = (filler: number) =>
      serializeEvent({
        v: 1,
        event_id: '01KBX5Q8E6N3Z4M7P9R2T5V8W1',
        source: 'pub-0',
        seq: 0,
        topic: 'events/run/pub-0',
        ts: '2026-01-01T00:00:00.000000Z',
        payload: { data: 'x'.repeat(filler) },
        bench: { intended_us: 1_767_225_600_000_000 },
      });
    expect(parseEvent(event(MAX_FILLER_BYTES)).ok).toBe(true);
    const refused = parseEvent(event(MAX_FILLER_BYTES + 1));
    expect(refused.ok).toBe(false);
    expect(!refused.ok && refused.errors.map((e) => e.field)).toEqual(['payload']);
  });

  it('reports every problem at once, each with its path', () => {
    const bad = scenario();
    bad.phases[1].rate = -5;
    bad.phases[1].faults[0].fraction = 1.5;
    bad.load.burst = 10;
    bad.checks[1].metric = 'latency_p99';
    bad.aggregator.dedup = 'mongodb';

    const errors = errorsOf(bad);
    const expectedPrefixes = [
      'phases[1].rate ',
      'phases[1].faults[0].fraction ',
      'load.burst ',
      'checks[1].metric ',
      'aggregator.dedup',
    ];
    for (const prefix of expectedPrefixes) {
      expect(errors.filter((e) => e.startsWith(prefix)), prefix).toHaveLength(1);
    }
    expect(errors).toHaveLength(expectedPrefixes.length);

    const find = (prefix: string) => errors.find((e) => e.startsWith(prefix))!;
    expect(find('phases[1].rate')).toBe('phases[1].rate must be > 0, got -5');
    expect(find('phases[1].faults[0].fraction')).toBe('phases[1].faults[0].fraction must be in [0, 1], got 1.5');
    expect(find('load.burst')).toMatch(/^load\.burst is not a known field \(known: model, concurrency, publishers, workers, payload_bytes, topics, window, puback_timeout_ms, max_lag_ms, wake_interval_ms, qos\)$/);
    expect(find('checks[1].metric')).toMatch(/must be one of lost, .*got "latency_p99"$/);
    // The dedup message comes from the registry and names the valid kinds.
    expect(find('aggregator.dedup')).toMatch(/^aggregator\.dedup: unknown dedup store 'mongodb': valid kinds are memory, none, sqlite, .*redis, .*postgres/);
  });

  it('names unknown fields at the top level and inside phases and faults', () => {
    const bad = scenario();
    bad.colour = 'blue';
    bad.phases[0].burst = true;
    bad.phases[1].faults[0].jitter_ms = 5;
    const errors = errorsOf(bad);
    expect(errors).toEqual([
      expect.stringMatching(/^colour is not a known field/),
      expect.stringMatching(/^phases\[0\]\.burst is not a known field/),
      expect.stringMatching(/^phases\[1\]\.faults\[0\]\.jitter_ms is not a known field/),
    ]);
  });

  it('rejects a fault of unknown kind with its path', () => {
    const bad = scenario();
    bad.phases[1].faults.push({ kind: 'meteor-strike', duration_ms: 100 });
    expect(errorsOf(bad)).toEqual([
      'phases[1].faults[1].kind must be one of: duplicate, reorder, poison, clock-skew, consumer-crash, broker-kill, slow-sink, latency, bandwidth, slicer, partition, reset-peer, got "meteor-strike"',
    ]);
  });

  it('reports missing and mistyped values rather than accepting them', () => {
    const bad = scenario();
    delete bad.seed;
    bad.load.publishers = 0;
    bad.phases[0].duration_s = '2';
    bad.aggregator.sink_mode = 'upsert';
    bad.checks[0].op = '!=';
    bad.checks[2].value = Number.POSITIVE_INFINITY;
    const errors = errorsOf(bad);
    expect(errors).toEqual(
      expect.arrayContaining([
        'seed must be a number, got undefined',
        'load.publishers must be an integer in [1, 256], got 0',
        'phases[0].duration_s must be a number, got "2"',
        `aggregator.sink_mode must be 'idempotent' or 'append', got "upsert"`,
        expect.stringMatching(/^checks\[0\]\.op must be one of/),
        'checks[2].value must be a finite number, got Infinity',
      ]),
    );
    expect(errors).toHaveLength(6);
  });

  it('rejects non-objects and empty phase lists', () => {
    expect(errorsOf(null)).toEqual(['scenario must be an object']);
    expect(errorsOf([])).toEqual(['scenario must be an object']);
    const bad = scenario();
    bad.phases = [];
    expect(errorsOf(bad)).toEqual(['phases must be a non-empty array']);
  });

  it('checks the load model, worker count and ramps, each with its path', () => {
    const bad = scenario();
    bad.load.model = 'poisson';
    bad.load.workers = 5; // more than the 4 publishers
    bad.load.topics = 0;
    bad.load.puback_timeout_ms = -1;
    bad.phases[0].rate = { from: 100, too: 200 };
    bad.phases[1].rate = { from: 0, to: 0 };
    expect(errorsOf(bad)).toEqual([
      `load.model must be 'open' or 'closed', got "poisson"`,
      'load.workers must be <= load.publishers (4): each worker runs at least one publisher, got 5',
      'load.topics must be an integer in [1, 10000], got 0',
      'load.puback_timeout_ms must be a positive integer, got -1',
      'phases[0].rate.too is not a known field (known: from, to)',
      'phases[0].rate.to must be a number, got undefined',
      'phases[1].rate must not ramp from 0 to 0',
    ]);
    const ramp = scenario();
    ramp.phases[1].rate = { from: 0, to: 2000 };
    ramp.load.model = 'closed';
    expect(validateScenario(ramp).ok).toBe(true);
  });

  it('checks every field of every fault kind, naming missing ones', () => {
    const bad = scenario();
    bad.phases[1].faults = [
      { kind: 'partition', target: 'broker', direction: 'both', toxicity: 1 },
      { kind: 'consumer-crash', at_s: -1, every_s: 0, downtime_ms: 1.5 },
      { kind: 'poison', fraction: 0.1, shapes: ['not-json', 'emoji'] },
    ];
    expect(errorsOf(bad)).toEqual([
      'phases[1].faults[0].target must be one of publishers, aggregator, all, got "broker"',
      'phases[1].faults[0].close_after_ms is required (>= 0)',
      'phases[1].faults[1].at_s must be >= 0, got -1',
      'phases[1].faults[1].downtime_ms must be an integer >= 0, got 1.5',
      'phases[1].faults[2].shapes must be a non-empty list of not-json, oversized, schema, got ["not-json","emoji"]',
    ]);
  });

  it('takes an optional delay_distribution on the duplicate fault, naming the field when it is wrong', () => {
    for (const distribution of ['fixed', 'uniform', 'exponential']) {
      const ok = scenario();
      ok.phases[1].faults[0].delay_distribution = distribution;
      expect(validateScenario(ok).ok, distribution).toBe(true);
    }
    const bad = scenario();
    bad.phases[1].faults[0].delay_distribution = 'pareto';
    bad.phases[1].faults.push({ ...bad.phases[1].faults[0], delay_distribution: 3 });
    expect(errorsOf(bad)).toEqual([
      'phases[1].faults[0].delay_distribution must be one of fixed, uniform, exponential, got "pareto"',
      'phases[1].faults[1].delay_distribution must be one of fixed, uniform, exponential, got 3',
    ]);
  });

  it('takes an optional qos of 0 or 1 on the load and the aggregator, naming the field when it is wrong', () => {
    const ok = structuredClone(dupStorm) as Scenario;
    ok.load.qos = 0;
    ok.aggregator.qos = 0;
    expect(validateScenario(ok).ok).toBe(true);
    const bad = structuredClone(dupStorm) as unknown as { load: Record<string, unknown>; aggregator: Record<string, unknown> };
    bad.load.qos = 2;
    bad.aggregator.qos = '1';
    const result = validateScenario(bad);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.errors).toContain('load.qos must be 0 or 1, got 2');
      expect(result.errors).toContain('aggregator.qos must be 0 or 1, got "1"');
    }
  });

  it("checks the aggregator section by the aggregator's own rules (config.ts), naming aggregator.<field>", () => {
    const bad = scenario();
    bad.aggregator.dedup = 5;
    bad.aggregator.sink_delay_ms = '5';
    bad.aggregator.commit_hold_ms = -1;
    delete bad.aggregator.batch_size;
    bad.aggregator.batch_wait_ms = Number.POSITIVE_INFINITY; // YAML's .inf: the aggregator would refuse it at start
    bad.aggregator.max_in_flight = 1.5;
    expect(errorsOf(bad)).toEqual([
      'aggregator.dedup must be a non-empty string, got 5',
      'aggregator.sink_delay_ms must be a number, got "5"',
      'aggregator.commit_hold_ms must be >= 0, got -1',
      'aggregator.batch_size must be a number, got undefined',
      'aggregator.batch_wait_ms must be a finite number, got Infinity',
      'aggregator.max_in_flight must be a positive integer, got 1.5',
    ]);
    // The same rule in the aggregator's own check, named by its flag there.
    const own = checkAggregatorConfig({ ...DEFAULT_AGGREGATOR_CONFIG, batch_wait_ms: Number.POSITIVE_INFINITY });
    expect(own).toEqual({ ok: false, problems: ['batch-wait-ms must be a finite number, got Infinity'] });
  });

  it('takes an optional load.max_lag_ms, a positive integer, naming the field when it is wrong', () => {
    const ok = structuredClone(dupStorm) as Scenario;
    ok.load.max_lag_ms = 1;
    expect(validateScenario(ok).ok).toBe(true);
    const cases: [unknown, string][] = [
      [0, 'load.max_lag_ms must be a positive integer, got 0'],
      [-5, 'load.max_lag_ms must be a positive integer, got -5'],
      [1.5, 'load.max_lag_ms must be a positive integer, got 1.5'],
      ['2000', 'load.max_lag_ms must be a number, got "2000"'],
    ];
    for (const [value, message] of cases) {
      const bad = structuredClone(dupStorm) as unknown as { load: Record<string, unknown> };
      bad.load.max_lag_ms = value;
      const result = validateScenario(bad);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.errors).toEqual([message]);
    }
  });

  it('takes an optional load.wake_interval_ms, an integer from 1 to 100 ms, naming the field when it is wrong', () => {
    const ok = structuredClone(dupStorm) as Scenario;
    for (const value of [1, 4, 100]) {
      ok.load.wake_interval_ms = value;
      expect(validateScenario(ok).ok).toBe(true);
    }
    for (const value of [0, 101, 1e999, 2.5, -1]) {
      const bad = structuredClone(dupStorm) as unknown as { load: Record<string, unknown> };
      bad.load.wake_interval_ms = value;
      const result = validateScenario(bad);
      expect(result.ok, String(value)).toBe(false);
      if (!result.ok) expect(result.errors.join(' ')).toMatch(/^load\.wake_interval_ms must /);
    }
  });

  it('accepts the boundaries of each range', () => {
    const edge = scenario();
    edge.phases[1].faults[0].fraction = 1;
    edge.phases[1].faults[0].immediate_share = 0;
    edge.aggregator.sink_delay_ms = 0;
    edge.load.publishers = 256;
    edge.seed = 0xffffffff;
    edge.aggregator.dedup = 'sqlite:/tmp/dedup.db';
    expect(validateScenario(edge).ok).toBe(true);
    edge.seed = 2 ** 32;
    expect(errorsOf(edge)).toEqual(['seed must be an integer in [0, 2^32), got 4294967296']);
  });
});

describe('validateScenario: every number finite and in range (issue 21)', () => {
  it('refuses Infinity, -Infinity and NaN in any number field, naming the field', () => {
    for (const [value, message] of [
      [Number.POSITIVE_INFINITY, 'must be a finite number, got Infinity'],
      [Number.NEGATIVE_INFINITY, 'must be a finite number, got -Infinity'],
      [Number.NaN, 'must be a number, got'],
    ] as const) {
      const bad = scenario();
      bad.phases[1].duration_s = value;
      bad.phases[1].rate = value;
      bad.drain_timeout_s = value;
      bad.load.window = value;
      bad.phases[1].faults[0].delay_ms = value;
      bad.aggregator.sink_delay_ms = value;
      const errors = errorsOf(bad);
      for (const path of ['phases[1].duration_s', 'phases[1].rate', 'drain_timeout_s', 'load.window', 'phases[1].faults[0].delay_ms', 'aggregator.sink_delay_ms']) {
        expect(errors.some((error) => error.startsWith(`${path} ${message}`)), `${path}: ${errors.join(' | ')}`).toBe(true);
      }
    }
  });

  it('refuses finite values past each range, naming the field and the bound', () => {
    const bad = scenario();
    bad.phases[1].duration_s = 1e300;
    bad.phases[1].rate = 1e12;
    bad.load.window = 2 ** 40;
    bad.phases[1].faults[0].delay_ms = 1e20;
    bad.aggregator.batch_size = 1e300;
    bad.aggregator.sink_delay_ms = 1e12;
    expect(errorsOf(bad)).toEqual([
      'load.window must be at most 1000000, got 1099511627776',
      'phases[1].duration_s must be at most 86400, got 1e+300',
      'phases[1].rate must be at most 10000000, got 1000000000000',
      'phases[1].faults[0].delay_ms must be at most 86400000, got 100000000000000000000',
      'aggregator.sink_delay_ms must be at most 86400000, got 1000000000000',
      'aggregator.batch_size must be at most 2147483647, got 1e+300',
    ]);
    const edge = scenario();
    edge.phases[1].duration_s = 86_400;
    edge.phases[1].rate = 10_000_000;
    expect(validateScenario(edge).ok).toBe(true);
  });

  it("refuses a name that is not a safe file-name and topic fragment: '/', '..', '+', '#', spaces", () => {
    for (const name of ['x/../../../escaped', '..', '../x', 'a+b', 'a#', 'has space', '.hidden', 'x'.repeat(65)]) {
      const bad = scenario();
      bad.name = name;
      expect(errorsOf(bad), name).toEqual([
        `name must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit (it names the output directory, MQTT topics and client ids), got ${JSON.stringify(name)}`,
      ]);
    }
    const ok = scenario();
    ok.name = 'my-run_2.v1';
    expect(validateScenario(ok).ok).toBe(true);
  });
});

describe('validateScenario: broker', () => {
  it('takes max_publish_bytes from 128 KiB to MQTT\'s largest remaining length, with or without persistence', () => {
    for (const broker of [{ max_publish_bytes: MIN_MAX_PUBLISH_BYTES }, { persistence: 'redis', max_publish_bytes: MQTT_MAX_REMAINING_LENGTH }, { persistence: 'memory' }]) {
      expect(validateScenario({ ...scenario(), broker }).ok, JSON.stringify(broker)).toBe(true);
    }
  });

  it('refuses a max_publish_bytes that is not a whole number of bytes in range, naming the field', () => {
    const bad = (value: unknown) => errorsOf({ ...scenario(), broker: { max_publish_bytes: value } });
    const rule = "must be an integer of bytes >= 131072 (128 KiB: the harness's own messages stay under it)";
    expect(bad(Infinity)).toEqual(['broker.max_publish_bytes must be a finite number, got Infinity']);
    expect(bad(1_000)).toEqual([`broker.max_publish_bytes ${rule}, got 1000`]);
    expect(bad(200_000.5)).toEqual([`broker.max_publish_bytes ${rule}, got 200000.5`]);
    expect(bad(2 ** 28)).toEqual(['broker.max_publish_bytes must be at most 268435455, got 268435456']);
    expect(bad('1MiB')).toEqual(['broker.max_publish_bytes must be a number, got "1MiB"']);
    expect(errorsOf({ ...scenario(), broker: { max_publish_bytes: 200_000, max_packet: 1 } })).toEqual(['broker.max_packet is not a known field (known: persistence, max_publish_bytes)']);
  });

  it('the smallest limit is above every message the harness sends itself: the largest event and a poison oversized message, with room for topic and header', () => {
    const largestEvent = serializeEvent({ v: 1, event_id: '01J0000000000000000000000A', source: 'publisher-255', seq: Number.MAX_SAFE_INTEGER, topic: 'x'.repeat(64), ts: new Date().toISOString(), payload: { data: 'x'.repeat(MAX_FILLER_BYTES) } });
    const poison = poisonPayload('oversized', 1_000_000_000);
    for (const bytes of [Buffer.byteLength(largestEvent), poison.length]) expect(bytes + 1_024).toBeLessThan(MIN_MAX_PUBLISH_BYTES);
  });
});
