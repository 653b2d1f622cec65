// slicer: data is cut into small pieces (average_size ± size_variation bytes) with delay_us between
// them, so MQTT packets arrive split across TCP reads.
import type { SlicerFault } from '../../scenarios/schema.ts';
import { networkToxicFault } from './network-toxic.ts';

export const slicerFault = (spec: SlicerFault) =>
  networkToxicFault(spec, { type: 'slicer', average_size: spec.average_size, size_variation: spec.size_variation, delay_us: spec.delay_us });
