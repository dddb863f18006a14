import { describe, expect, it } from 'vitest';
import { serviceTopicNames, topicNames } from '../../src/events/topics.js';

describe('topic names', () => {
  it("a service's own topics sit beside the shared ones, with the service in the name", () => {
    expect(serviceTopicNames('prod', 'service-a')).toEqual({
      requested: 'prod.omninode-bridge.database.service-a.query-requested.v1',
      completed: 'prod.omninode-bridge.database.service-a.query-completed.v1',
      failed: 'prod.omninode-bridge.database.service-a.query-failed.v1',
      deadLettered: 'prod.omninode-bridge.database.service-a.query-dead-lettered.v1',
    });
    expect(topicNames('prod').deadLettered).toBe('prod.omninode-bridge.database.query-dead-lettered.v1');
    expect(Object.values(serviceTopicNames('prod', 'service-a'))).not.toContain(topicNames('prod').requested);
  });

  it.each(['', 'Service-A', 'a.b', 'a b', '-a', 'x'.repeat(65)])(
    'refuses the service name %j (it must not reach into another name)',
    (service) => {
      expect(() => serviceTopicNames('prod', service)).toThrow(/invalid service name/);
    },
  );
});
