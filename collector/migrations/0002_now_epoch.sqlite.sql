-- now_epoch() is registered on every SQLite connection (store_sqlite.py); nothing to create.
SELECT 1;
