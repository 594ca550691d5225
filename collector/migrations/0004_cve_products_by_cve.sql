-- Re-importing a CVE replaces its index rows: look them up by CveId, not by a table scan.
CREATE INDEX "CveProducts_Cve" ON "CveProducts" ("CveId");
