import { v4 as uuidv4 } from 'uuid';

const SANE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** A correlation id is accepted from the caller only if it is sane (hono's request-id rule); otherwise a new one is minted. */
export function isSaneId(value: unknown): value is string {
  return typeof value === 'string' && SANE_ID.test(value);
}

export function newId(): string {
  return uuidv4();
}
