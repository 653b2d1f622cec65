import { describe, expect, it } from 'vitest';
import mqttPacket from 'mqtt-packet';
import { encodePubacks } from './connection.ts';

describe('encodePubacks', () => {
  it('is byte for byte the PUBACKs mqtt-packet generates, back to back', () => {
    const ids = [1, 2, 255, 256, 4660, 65535];
    const expected = Buffer.concat(ids.map((messageId) => mqttPacket.generate({ cmd: 'puback', messageId })));
    expect(encodePubacks(ids).equals(expected)).toBe(true);
  });

  it('parses back into the same packet ids', () => {
    const ids = Array.from({ length: 500 }, (_, i) => (i * 131) % 65535 + 1);
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    const seen: number[] = [];
    parser.on('packet', (packet) => {
      expect(packet.cmd).toBe('puback');
      seen.push((packet as { messageId: number }).messageId);
    });
    parser.parse(encodePubacks(ids));
    expect(seen).toEqual(ids);
  });

  it('is empty for no ids', () => {
    expect(encodePubacks([]).length).toBe(0);
  });
});
