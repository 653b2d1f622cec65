// The experiments behind the theory write-up, in the order of its tables.

import { deliverySemantics } from './delivery.ts';
import { dedupTtl } from './dedup-ttl.ts';
import { eventIds } from './event-ids.ts';
import { failureModes } from './failure-modes.ts';
import { httpVsMqtt } from './http-vs-mqtt.ts';
import { ordering } from './ordering.ts';
import { throughputLatency } from './throughput-latency.ts';
import type { TheoryExperiment } from './types.ts';

export const EXPERIMENTS: readonly TheoryExperiment[] = [httpVsMqtt, deliverySemantics, eventIds, ordering, failureModes, dedupTtl, throughputLatency];
