// The agent's RESP2 reply parser (src/feature/resp.ts): every reply type, nesting, and replies that
// arrive in pieces. The client itself runs against a real redis-server in test/system/feature-db.test.ts.
import { describe, expect, it } from 'vitest';
import { asRecord, parseReply, ReplyError } from '../../src/feature/resp.js';

const p = (s: string) => parseReply(Buffer.from(s));

describe('RESP2 replies', () => {
  it.each([
    ['+OK\r\n', 'OK'],
    [':42\r\n', 42],
    ['$5\r\nhello\r\n', 'hello'],
    ['$0\r\n\r\n', ''],
    ['$-1\r\n', null],
    ['*-1\r\n', null],
    ['*2\r\n$5\r\nstate\r\n$7\r\nenabled\r\n', ['state', 'enabled']],
    ['*2\r\n+QUEUED\r\n*1\r\n:1\r\n', ['QUEUED', [1]]],
    ['$9\r\nbmp\r\nid\r\n\r\n', 'bmp\r\nid\r\n'],
  ])('%j', (text, reply) => {
    expect(p(text)).toEqual({ reply, next: Buffer.byteLength(text) });
  });

  it('an error reply is a ReplyError carrying the server message', () => {
    const r = p('-WRONGTYPE Operation against a key holding the wrong kind of value\r\n')!.reply;
    expect(r).toBeInstanceOf(ReplyError);
    expect((r as ReplyError).message).toMatch(/^WRONGTYPE/);
  });

  it.each(['', '+OK', '$5\r\nhel', '*2\r\n$5\r\nstate\r\n', '$5\r\nhello'])('%j is not whole yet', (text) => {
    expect(p(text)).toBeUndefined();
  });

  it('two replies back to back parse one after the other', () => {
    const buf = Buffer.from(':1\r\n+OK\r\n');
    const first = parseReply(buf)!;
    expect(first.reply).toBe(1);
    expect(parseReply(buf, first.next)).toEqual({ reply: 'OK', next: buf.length });
  });

  it('garbage is an error, not a guess', () => {
    expect(() => p('?what\r\n')).toThrow(/unexpected reply type/);
  });

  it('HGETALL pairs become a record', () => {
    expect(asRecord(['state', 'enabled', 'container_id', ''])).toEqual({ state: 'enabled', container_id: '' });
    expect(asRecord(null)).toEqual({});
  });
});
