/**
 * Kafka headers as `IncomingMessage` carries them: names and values as UTF-8 text, the first of a
 * repeated header; undefined when there are none (most messages).
 */
export function textHeaders(
  entries: Iterable<readonly [string | Buffer, Buffer | string | (Buffer | string)[] | undefined]>,
): Record<string, string> | undefined {
  let out: Record<string, string> | undefined;
  for (const [name, raw] of entries) {
    const value = Array.isArray(raw) ? raw[0] : raw;
    if (value === undefined) continue;
    const key = name.toString();
    out ??= {};
    if (!(key in out)) out[key] = value.toString();
  }
  return out;
}
