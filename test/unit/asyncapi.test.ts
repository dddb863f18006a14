import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ASYNCAPI_FILE, renderAsyncApi } from '../../scripts/asyncapi.js';
import { topicNames } from '../../src/events/topics.js';

type Json = Record<string, unknown>;

const doc = JSON.parse(renderAsyncApi()) as Json;

/** Resolves a local `$ref` (`#/a/b`) in the document, or undefined. */
function resolve(pointer: string): unknown {
  if (!pointer.startsWith('#/')) return undefined;
  let node: unknown = doc;
  for (const raw of pointer.slice(2).split('/')) {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (node === null || typeof node !== 'object' || !(key in node)) return undefined;
    node = (node as Json)[key];
  }
  return node;
}

function refs(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const item of node) refs(item, out);
  else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') out.push(value);
      else refs(value, out);
    }
  }
  return out;
}

function keys(node: unknown, out: Set<string> = new Set()): Set<string> {
  if (Array.isArray(node)) for (const item of node) keys(item, out);
  else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      out.add(key);
      keys(value, out);
    }
  }
  return out;
}

/** The object a `$ref` points at, or the object itself. */
const deref = (node: unknown) =>
  (node !== null && typeof node === 'object' && '$ref' in node
    ? resolve((node as { $ref: string }).$ref)
    : node) as Json;

const channels = doc.channels as Record<string, Json>;
const operations = doc.operations as Record<string, Json>;

describe('generated/asyncapi.json', () => {
  it('matches the zod contract in src/events (run `npm run schemas` after changing it)', () => {
    expect(readFileSync(ASYNCAPI_FILE, 'utf8')).toBe(renderAsyncApi());
  });

  it('is AsyncAPI 3.0 with the package version', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    expect(doc.asyncapi).toBe('3.0.0');
    expect((doc.info as Json).version).toBe(pkg.version);
    expect((doc.servers as Record<string, Json>).local).toMatchObject({ protocol: 'kafka' });
  });

  it('resolves every $ref inside the document', () => {
    const all = refs(doc);
    expect(all.length).toBeGreaterThan(20);
    for (const ref of all) expect(resolve(ref), ref).toBeDefined();
  });

  it("has the protocol's topics (the seed's three and the dead-letter topic), each with its messages and a declared {env} parameter", () => {
    const t = topicNames('ENV');
    expect(Object.values(channels).map((c) => String(c.address).replace('{env}', 'ENV'))).toEqual([
      t.requested,
      t.completed,
      t.failed,
      t.deadLettered,
    ]);
    for (const [name, channel] of Object.entries(channels)) {
      expect(Object.keys(channel.messages as Json).length, name).toBeGreaterThan(0);
      for (const message of Object.values(channel.messages as Json))
        expect(deref(message).payload).toBeDefined();
      for (const parameter of String(channel.address).matchAll(/\{(\w+)\}/g)) {
        expect((channel.parameters as Json)[parameter[1] as string], name).toBeDefined();
      }
    }
  });

  it('has operations on existing channels, sending and receiving only messages of those channels', () => {
    const channelOf = (op: Json) => {
      const ref = (op.channel as { $ref: string }).$ref;
      const channel = resolve(ref) as Json | undefined;
      expect(channel, ref).toBeDefined();
      return ref;
    };
    const messagesOf = (channelRef: string, list: unknown) => {
      for (const m of list as { $ref: string }[])
        expect(m.$ref.startsWith(`${channelRef}/messages/`)).toBe(true);
    };
    for (const [name, op] of Object.entries(operations)) {
      expect(['send', 'receive'], name).toContain(op.action);
      messagesOf(channelOf(op), op.messages);
      for (const reply of [op.reply, op['x-dbbridge-failure-reply']]) {
        if (reply !== undefined) messagesOf(channelOf(reply as Json), (reply as Json).messages);
      }
    }
    const summary = Object.values(operations).map(
      (op) => `${op.action} ${(op.channel as { $ref: string }).$ref}`,
    );
    expect(summary.sort()).toEqual([
      'receive #/channels/queryCompleted',
      'receive #/channels/queryDeadLettered',
      'receive #/channels/queryFailed',
      'receive #/channels/queryRequested',
      'send #/channels/queryCompleted',
      'send #/channels/queryDeadLettered',
      'send #/channels/queryFailed',
      'send #/channels/queryRequested',
    ]);
  });

  it('keys messages by correlation id (dead letters by source partition) and names the reply partition', () => {
    const messages = (doc.components as Json).messages as Record<string, Json>;
    const { queryDeadLettered = {}, ...protocol } = messages;
    const deadLetterKafka = (queryDeadLettered.bindings as Json).kafka as Json;
    expect(String((deadLetterKafka.key as Json).description)).toContain('topic:partition');
    for (const message of Object.values(protocol)) {
      const kafka = (message.bindings as Json).kafka as Json;
      expect(String((kafka.key as Json).description)).toContain('correlation_id');
      expect(deref(message.correlationId).location).toBe('$message.payload#/correlation_id');
    }
    expect(messages.queryRequested?.['x-dbbridge-reply-partition']).toMatchObject({
      location: '$message.payload#/reply_partition',
    });
    const request = deref(messages.queryRequested?.payload) as { properties: Json };
    expect(request.properties.reply_partition).toBeDefined();
  });

  it('uses only JSON Schema draft-07 keywords in payloads (the AsyncAPI schema format)', () => {
    const used = keys((doc.components as Json).schemas);
    for (const keyword of ['$defs', 'prefixItems', 'unevaluatedProperties', 'dependentSchemas', '$schema']) {
      expect(used.has(keyword), keyword).toBe(false);
    }
  });
});
