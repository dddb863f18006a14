import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    env: { KAFKAJS_NO_PARTITIONER_WARNING: '1' },
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // Starts (or reuses) the real Kafka broker and PostgreSQL of `npm run stack:up`.
          globalSetup: ['test/helpers/global-setup.ts'],
          // One broker and one database on a 2-core machine: run files one at a time.
          fileParallelism: false,
          // The streaming test measures live heap after forced collections.
          execArgv: ['--expose-gc'],
          testTimeout: 60_000,
          hookTimeout: 180_000,
        },
      },
      {
        test: {
          name: 'system',
          // `npm start` itself, with a broker and a database of its own: after the integration files,
          // so the two stacks do not share the machine's cores.
          include: ['test/system/**/*.test.ts'],
          sequence: { groupOrder: 1 },
          fileParallelism: false,
          testTimeout: 240_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
