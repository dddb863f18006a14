import type { TestProject } from 'vitest/node';
import { setup as stackSetup, teardown as stackTeardown } from './stack.js';

/** Brings up (or reuses) the real local stack once for all integration tests and hands them its addresses. */
export async function setup(project: TestProject): Promise<void> {
  await stackSetup();
  const kafka = process.env.KAFKA_BOOTSTRAP_SERVERS;
  const database = process.env.DATABASE_URL;
  if (!kafka || !database)
    throw new Error('stack setup did not provide KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL');
  project.provide('kafkaBootstrapServers', kafka);
  project.provide('databaseUrl', database);
  project.provide('databaseOwnerUrl', process.env.DATABASE_OWNER_URL ?? database);
}

export async function teardown(): Promise<void> {
  await stackTeardown();
}
