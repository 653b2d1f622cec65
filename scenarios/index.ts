// Every shipped scenario, by name. Adding one: a new file plus one line here.

import type { Scenario } from './schema.ts';
import { dupStorm } from './shipped/dup-storm.ts';
import { reorder } from './shipped/reorder.ts';
import { poisonPill } from './shipped/poison-pill.ts';
import { clockSkew } from './shipped/clock-skew.ts';
import { consumerCrash } from './shipped/consumer-crash.ts';
import { brokerKill } from './shipped/broker-kill.ts';
import { brokerKillRedis } from './shipped/broker-kill-redis.ts';
import { slowSink } from './shipped/slow-sink.ts';
import { burst } from './shipped/burst.ts';
import { networkPartition } from './shipped/network-partition.ts';
import { latencyJitter } from './shipped/latency-jitter.ts';
import { soak } from './shipped/soak.ts';
import { smoke } from './shipped/smoke.ts';
import { gate } from './shipped/gate.ts';

export const SCENARIOS: Readonly<Record<string, Scenario>> = Object.fromEntries(
  [dupStorm, reorder, poisonPill, clockSkew, consumerCrash, brokerKill, brokerKillRedis, slowSink, networkPartition, latencyJitter, burst, soak, smoke, gate].map((s) => [s.name, s]),
);

export type { Scenario } from './schema.ts';
