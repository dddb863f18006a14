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
    ],
  },
});
