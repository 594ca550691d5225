-- SQLite has no roles: hunting queries use a read-only connection (mode=ro, query_only).
SELECT 1;
