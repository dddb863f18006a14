/**
 * Transactions on a revoked request partition (no database: a recording stand-in for the pooled
 * connection): rolled back at once, reported, and answered with a coded failure afterwards; a BEGIN
 * whose partition is revoked while it runs does not leave a transaction open.
 */
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { Executor } from '../../src/adapter/executor.js';
import { RequestRejected } from '../../src/adapter/failures.js';
import { type RollbackReason, Transactions } from '../../src/adapter/transactions.js';
import type { Logger } from '../../src/logger.js';

const T = 'dev.requests';

function setup() {
  const statements: string[] = [];
  const warnings: Record<string, unknown>[] = [];
  const rolledBack: RollbackReason[] = [];
  let released = 0;
  let gate: Promise<void> = Promise.resolve();
  const client = {
    async query(sql: string) {
      statements.push(sql);
      if (sql.startsWith('BEGIN')) await gate;
      return { command: sql.split(' ')[0] };
    },
    release() {
      released++;
    },
  } as unknown as pg.PoolClient;
  const executor = {
    acquire: async () => client,
    releaseReset: async () => {
      released++;
    },
  } as unknown as Executor;
  const logger: Logger = {
    debug() {},
    info() {},
    warn: (message, fields) => warnings.push({ message, ...fields }),
    error() {},
  };
  const transactions = new Transactions(executor, logger, {
    poolMax: 20,
    idleTimeoutMs: 60_000,
    onRolledBack: (reason) => rolledBack.push(reason),
  });
  return {
    transactions,
    statements,
    warnings,
    rolledBack,
    released: () => released,
    hold() {
      let open: () => void = () => {};
      gate = new Promise<void>((r) => {
        open = r;
      });
      return open;
    },
  };
}

async function failure(promise: Promise<unknown>) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RequestRejected);
  return (error as RequestRejected).failure;
}

describe('Transactions.revoke', () => {
  it('rolls back only the transactions of the revoked partitions, and says so afterwards', async () => {
    const t = setup();
    const moved = await t.transactions.begin({}, '', { topic: T, partition: 1 });
    const stays = await t.transactions.begin({}, '', { topic: T, partition: 2 });
    const elsewhere = await t.transactions.begin({}, '');
    expect(await t.transactions.revoke([{ topic: T, partition: 1 }])).toBe(1);
    expect(t.transactions.size).toBe(2);
    expect(t.statements.filter((s) => s === 'ROLLBACK')).toHaveLength(1);
    expect(t.rolledBack).toEqual(['partition-moved']);
    expect(t.warnings).toEqual([expect.objectContaining({ transactionId: moved, topic: T, partition: 1 })]);
    const late = await failure(Promise.resolve().then(() => t.transactions.run(moved, async () => 'ran')));
    expect(late).toMatchObject({
      code: 'VALIDATION_ERROR',
      errorType: 'TransactionPartitionMoved',
      retryable: false,
    });
    expect(late.message).toContain(`${T} [1]`);
    expect(await failure(t.transactions.end(moved, 'commit'))).toMatchObject({
      errorType: 'TransactionPartitionMoved',
    });
    expect(await t.transactions.run(stays, async () => 'ran')).toBe('ran');
    expect(await t.transactions.end(stays, 'commit')).toBe('COMMIT');
    expect(await t.transactions.end(elsewhere, 'rollback')).toBe('ROLLBACK');
    expect(
      await failure(Promise.resolve().then(() => t.transactions.run('tx-never', async () => 'ran'))),
    ).toMatchObject({
      errorType: 'UnknownTransaction',
    });
  });

  it('waits for a statement already running, then rolls back', async () => {
    const t = setup();
    const id = await t.transactions.begin({}, '', { topic: T, partition: 0 });
    let finish: () => void = () => {};
    const running = t.transactions.run(
      id,
      () =>
        new Promise<string>((resolve) => {
          finish = () => resolve('done');
        }),
    );
    await new Promise((r) => setTimeout(r, 10)); // the statement runs now
    const revoked = t.transactions.revoke([{ topic: T, partition: 0 }]);
    await new Promise((r) => setTimeout(r, 10));
    expect(t.statements).not.toContain('ROLLBACK');
    finish();
    expect(await running).toBe('done');
    expect(await revoked).toBe(1);
    expect(t.statements.at(-1)).toBe('ROLLBACK');
  });

  it('a BEGIN whose partition is revoked while it runs fails and leaves nothing open', async () => {
    const t = setup();
    const open = t.hold();
    const begun = t.transactions.begin({}, '', { topic: T, partition: 3 });
    await new Promise((r) => setTimeout(r, 10));
    expect(await t.transactions.revoke([{ topic: T, partition: 3 }])).toBe(0);
    open();
    expect(await failure(begun)).toMatchObject({ errorType: 'TransactionPartitionMoved' });
    expect(t.transactions.size).toBe(0);
    expect(t.statements.at(-1)).toBe('ROLLBACK');
    // A BEGIN that starts after the revocation (the partition came back) is not affected.
    const later = await t.transactions.begin({}, '', { topic: T, partition: 3 });
    expect(await t.transactions.end(later, 'commit')).toBe('COMMIT');
  });
});
