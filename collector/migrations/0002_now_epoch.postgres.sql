-- now_epoch(): the current UTC instant in epoch seconds, so hunting queries read the same on
-- both engines (SQLite gets the same function from the connection, see store_sqlite.py).
CREATE OR REPLACE FUNCTION now_epoch() RETURNS DOUBLE PRECISION
    LANGUAGE sql STABLE AS 'SELECT extract(epoch FROM now())::double precision';
