-- branchwatch_reader: the SELECT-only role hunting queries run under (queries.py). Roles are
-- cluster-wide, so creating it tolerates another schema or instance having created it first.
DO $$
BEGIN
    CREATE ROLE branchwatch_reader NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;
DO $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO branchwatch_reader', current_schema());
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO branchwatch_reader', current_schema());
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT ON TABLES TO branchwatch_reader', current_schema());
END
$$;
