// Every shipped scenario, by name. Adding one: a new file plus one line here.

import type { Scenario } from './schema.ts';
import { dupStorm } from './dup-storm.ts';
import { reorder } from './reorder.ts';
import { poisonPill } from './poison-pill.ts';
import { clockSkew } from './clock-skew.ts';
import { consumerCrash } from './consumer-crash.ts';
import { brokerKill } from './broker-kill.ts';
import { brokerKillRedis } from './broker-kill-redis.ts';
import { slowSink } from './slow-sink.ts';
import { burst } from './burst.ts';
import { networkPartition } from './network-partition.ts';
import { latencyJitter } from './latency-jitter.ts';
import { soak } from './soak.ts';
import { smoke } from './smoke.ts';
import { gate } from './gate.ts';

export const SCENARIOS: Readonly<Record<string, Scenario>> = Object.fromEntries(
  [dupStorm, reorder, poisonPill, clockSkew, consumerCrash, brokerKill, brokerKillRedis, slowSink, networkPartition, latencyJitter, burst, soak, smoke, gate].map((s) => [s.name, s]),
);

export type { Scenario } from './schema.ts';
