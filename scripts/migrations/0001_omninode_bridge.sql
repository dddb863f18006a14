-- The three omninode_bridge tables that the seed's examples use.
-- Part 1 is the original deployment's schema; part 2 is what the seed's examples need on top of it.
-- Every statement is idempotent (IF NOT EXISTS), so this also applies to a database that already has
-- the original tables. scripts/migrate.ts runs the file in one transaction.

-- Part 1: the original schema ---------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS agent_routing_decisions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  correlation_id uuid NOT NULL,
  session_id uuid,
  user_request text NOT NULL,
  user_request_hash varchar(64),
  context_snapshot jsonb,
  selected_agent varchar(255) NOT NULL,
  confidence_score numeric(5, 4) NOT NULL
    CONSTRAINT agent_routing_decisions_confidence_score_check CHECK (confidence_score >= 0 AND confidence_score <= 1),
  routing_strategy varchar(100) NOT NULL,
  trigger_confidence numeric(5, 4),
  context_confidence numeric(5, 4),
  capability_confidence numeric(5, 4),
  historical_confidence numeric(5, 4),
  alternatives jsonb,
  alternatives_count integer DEFAULT 0,
  reasoning text,
  matched_triggers text[],
  matched_capabilities text[],
  routing_time_ms integer NOT NULL
    CONSTRAINT agent_routing_decisions_routing_time_ms_check CHECK (routing_time_ms >= 0 AND routing_time_ms < 10000),
  cache_hit boolean DEFAULT false,
  cache_key varchar(255),
  selection_validated boolean DEFAULT false,
  actual_success boolean,
  actual_quality_score numeric(5, 4),
  prediction_error numeric(5, 4),
  metadata jsonb DEFAULT '{}'::jsonb,
  created_at timestamptz DEFAULT now(),
  validated_at timestamptz
);

CREATE INDEX IF NOT EXISTS idx_agent_routing_decisions_correlation_id
  ON agent_routing_decisions (correlation_id);
CREATE INDEX IF NOT EXISTS idx_agent_routing_decisions_session_id
  ON agent_routing_decisions (session_id) WHERE session_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_agent_routing_decisions_agent_created
  ON agent_routing_decisions (selected_agent, created_at DESC);
CREATE INDEX IF NOT EXISTS idx_agent_routing_decisions_strategy_created
  ON agent_routing_decisions (routing_strategy, created_at DESC);
CREATE INDEX IF NOT EXISTS idx_agent_routing_decisions_confidence_created
  ON agent_routing_decisions (confidence_score DESC, created_at DESC);
CREATE INDEX IF NOT EXISTS idx_agent_routing_decisions_created_at
  ON agent_routing_decisions (created_at DESC);
CREATE INDEX IF NOT EXISTS idx_agent_routing_decisions_alternatives
  ON agent_routing_decisions USING gin (alternatives);

CREATE TABLE IF NOT EXISTS agent_manifest_injections (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  correlation_id uuid NOT NULL,
  session_id uuid,
  routing_decision_id uuid REFERENCES agent_routing_decisions (id),
  agent_name varchar(255) NOT NULL,
  agent_version varchar(50) DEFAULT '1.0.0',
  manifest_version varchar(50) NOT NULL,
  generation_source varchar(100) NOT NULL,
  is_fallback boolean DEFAULT false,
  sections_included text[] NOT NULL,
  sections_requested text[],
  patterns_count integer DEFAULT 0,
  infrastructure_services integer DEFAULT 0,
  models_count integer DEFAULT 0,
  database_schemas_count integer DEFAULT 0,
  debug_intelligence_successes integer DEFAULT 0,
  debug_intelligence_failures integer DEFAULT 0,
  collections_queried jsonb,
  query_times jsonb NOT NULL,
  total_query_time_ms integer NOT NULL
    CONSTRAINT agent_manifest_injections_total_query_time_ms_check
    CHECK (total_query_time_ms >= 0 AND total_query_time_ms < 30000),
  cache_hit boolean DEFAULT false,
  cache_age_seconds integer,
  full_manifest_snapshot jsonb NOT NULL,
  formatted_manifest_text text,
  manifest_size_bytes integer,
  intelligence_available boolean DEFAULT true,
  query_failures jsonb,
  warnings text[],
  agent_execution_success boolean,
  agent_execution_time_ms integer,
  agent_quality_score numeric(5, 4)
    CONSTRAINT agent_manifest_injections_agent_quality_score_check
    CHECK (agent_quality_score IS NULL OR (agent_quality_score >= 0 AND agent_quality_score <= 1)),
  metadata jsonb DEFAULT '{}'::jsonb,
  created_at timestamptz DEFAULT now(),
  executed_at timestamptz,
  completed_at timestamptz
);

CREATE INDEX IF NOT EXISTS idx_agent_manifest_injections_correlation_id
  ON agent_manifest_injections (correlation_id);
CREATE INDEX IF NOT EXISTS idx_agent_manifest_injections_session_id
  ON agent_manifest_injections (session_id) WHERE session_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_agent_manifest_injections_routing_decision_id
  ON agent_manifest_injections (routing_decision_id) WHERE routing_decision_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_agent_manifest_injections_agent_created
  ON agent_manifest_injections (agent_name, created_at DESC);
CREATE INDEX IF NOT EXISTS idx_agent_manifest_injections_created_at
  ON agent_manifest_injections (created_at DESC);
CREATE INDEX IF NOT EXISTS idx_agent_manifest_injections_source_fallback
  ON agent_manifest_injections (generation_source, is_fallback);
CREATE INDEX IF NOT EXISTS idx_agent_manifest_injections_performance
  ON agent_manifest_injections (total_query_time_ms, patterns_count);
CREATE INDEX IF NOT EXISTS idx_agent_manifest_injections_snapshot
  ON agent_manifest_injections USING gin (full_manifest_snapshot);
CREATE INDEX IF NOT EXISTS idx_agent_manifest_injections_query_times
  ON agent_manifest_injections USING gin (query_times);
CREATE INDEX IF NOT EXISTS idx_agent_manifest_injections_query_failures
  ON agent_manifest_injections USING gin (query_failures);

CREATE TABLE IF NOT EXISTS agent_execution_logs (
  execution_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  correlation_id uuid NOT NULL,
  session_id uuid NOT NULL,
  agent_name varchar(255) NOT NULL,
  user_prompt text,
  status varchar(50) NOT NULL DEFAULT 'in_progress',
  quality_score numeric(5, 4),
  error_message text,
  error_type varchar(255),
  duration_ms integer,
  project_path text,
  project_name varchar(255),
  claude_session_id varchar(255),
  terminal_id varchar(255),
  metadata jsonb DEFAULT '{}'::jsonb,
  created_at timestamptz DEFAULT now(),
  completed_at timestamptz
);

-- Part 2: what the seed's examples need ------------------------------------------------------------

-- Columns the examples set but the original schema lacked.
ALTER TABLE agent_manifest_injections ADD COLUMN IF NOT EXISTS processed boolean DEFAULT false;
ALTER TABLE agent_execution_logs ADD COLUMN IF NOT EXISTS started_at timestamptz;
ALTER TABLE agent_execution_logs ADD COLUMN IF NOT EXISTS processed boolean DEFAULT false;

-- NOT NULL columns that the examples' inserts omit:
-- insert(agent_routing_decisions, returning="*") and Pattern 2 omit routing_time_ms;
ALTER TABLE agent_routing_decisions ALTER COLUMN routing_time_ms SET DEFAULT 0;
-- insert(agent_routing_decisions, returning="*") omits user_request;
ALTER TABLE agent_routing_decisions ALTER COLUMN user_request DROP NOT NULL;
-- every agent_execution_logs insert omits session_id, and the batch insert and the Insert Request
-- event omit correlation_id.
ALTER TABLE agent_execution_logs ALTER COLUMN session_id DROP NOT NULL;
ALTER TABLE agent_execution_logs ALTER COLUMN correlation_id DROP NOT NULL;
