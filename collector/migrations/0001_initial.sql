-- Branchwatch collector schema, version 1. The same text runs on SQLite and PostgreSQL:
-- identifiers are quoted (PostgreSQL folds unquoted names to lower case), instants are UTC
-- epoch seconds in DOUBLE PRECISION, flags are INTEGER 0/1, binary values are hex TEXT.
-- Column meanings: docs/hunting.md.

CREATE TABLE "Sensors" (
    "SensorId" TEXT PRIMARY KEY,
    "Site" TEXT NOT NULL,
    "Status" TEXT NOT NULL,                 -- pending (token issued), active, revoked
    "CreatedAt" DOUBLE PRECISION NOT NULL,
    "RevokedAt" DOUBLE PRECISION,
    "LastBatchAt" DOUBLE PRECISION,         -- received_at of the last ingested batch
    "LastBatchCreatedAt" DOUBLE PRECISION,  -- the sensor's created_at of that batch
    "LastBatchSeq" BIGINT,
    "LastEpoch" BIGINT,
    "BatchesIngested" BIGINT NOT NULL DEFAULT 0,
    "ItemsIngested" BIGINT NOT NULL DEFAULT 0,
    "FindingsIngested" BIGINT NOT NULL DEFAULT 0,
    "DuplicateBatches" BIGINT NOT NULL DEFAULT 0,
    "RejectedBatches" BIGINT NOT NULL DEFAULT 0,
    "GapBatches" BIGINT NOT NULL DEFAULT 0,         -- batch numbers skipped, not yet filled
    "EvictedItems" BIGINT NOT NULL DEFAULT 0,       -- items the sensor reported evicted
    "ClockSkewS" DOUBLE PRECISION,                  -- created_at - received_at of the last batch
    "IsClockSkewed" INTEGER NOT NULL DEFAULT 0,     -- |ClockSkewS| > 300
    "Health" TEXT,                                  -- last health item, JSON
    "HealthAt" DOUBLE PRECISION,
    "CommandCounter" BIGINT NOT NULL DEFAULT 0      -- last command counter issued to it
);

CREATE TABLE "SensorKeys" (
    "SensorId" TEXT NOT NULL,
    "KeyId" TEXT NOT NULL,
    "PublicKey" TEXT NOT NULL,              -- Ed25519 raw public key, hex
    "CreatedAt" DOUBLE PRECISION NOT NULL,
    "ValidUntil" DOUBLE PRECISION,          -- end of the overlap window after a rotation
    "RevokedAt" DOUBLE PRECISION,
    PRIMARY KEY ("SensorId", "KeyId")
);

CREATE TABLE "EnrolmentTokens" (
    "TokenHash" TEXT PRIMARY KEY,           -- sha256 of the token, hex; the token is never stored
    "SensorId" TEXT NOT NULL,
    "Site" TEXT NOT NULL,
    "CreatedAt" DOUBLE PRECISION NOT NULL,
    "ExpiresAt" DOUBLE PRECISION NOT NULL,
    "UsedAt" DOUBLE PRECISION
);

CREATE TABLE "Batches" (
    "SensorId" TEXT NOT NULL,
    "KeyId" TEXT NOT NULL,
    "Epoch" BIGINT NOT NULL,
    "BatchSeq" BIGINT NOT NULL,
    "BatchHash" TEXT NOT NULL,              -- SHA-256 of the exact frame received, hex
    "PrevHash" TEXT NOT NULL,               -- the frame's prev_hash, hex
    "CreatedAt" DOUBLE PRECISION NOT NULL,  -- sensor clock
    "ReceivedAt" DOUBLE PRECISION NOT NULL, -- collector clock
    "Items" BIGINT NOT NULL,
    PRIMARY KEY ("SensorId", "KeyId", "Epoch", "BatchSeq")
);

CREATE TABLE "Streams" (                    -- one per (sensor, key, epoch); never pruned
    "SensorId" TEXT NOT NULL,
    "KeyId" TEXT NOT NULL,
    "Epoch" BIGINT NOT NULL,
    "MaxSeq" BIGINT NOT NULL,
    "MaxHash" TEXT NOT NULL,
    "StartedAt" DOUBLE PRECISION NOT NULL,
    PRIMARY KEY ("SensorId", "KeyId", "Epoch")
);

CREATE TABLE "SequenceGaps" (
    "SensorId" TEXT NOT NULL,
    "KeyId" TEXT NOT NULL,
    "Epoch" BIGINT NOT NULL,
    "FirstSeq" BIGINT NOT NULL,
    "LastSeq" BIGINT NOT NULL,
    "RecordedAt" DOUBLE PRECISION NOT NULL,
    PRIMARY KEY ("SensorId", "KeyId", "Epoch", "FirstSeq")
);

CREATE TABLE "SensorAlarms" (
    "SensorId" TEXT NOT NULL,
    "Kind" TEXT NOT NULL,                   -- rollback, clock-skew, gap, evicted
    "At" DOUBLE PRECISION NOT NULL,
    "Details" TEXT NOT NULL                 -- JSON
);
CREATE INDEX "SensorAlarms_Sensor" ON "SensorAlarms" ("SensorId", "At");

CREATE TABLE "DeviceInfo" (
    "DeviceId" TEXT PRIMARY KEY,            -- <SensorId>/<device key>
    "DeviceName" TEXT,
    "DeviceCategory" TEXT,
    "DeviceType" TEXT,
    "DeviceSubtype" TEXT,
    "Vendor" TEXT,
    "Model" TEXT,
    "OSPlatform" TEXT,
    "OSVersion" TEXT,
    "FirmwareVersion" TEXT,
    "PreviousFirmwareVersion" TEXT,
    "FirmwareChangedAt" DOUBLE PRECISION,
    "MacAddress" TEXT,
    "FirstSeen" DOUBLE PRECISION NOT NULL,
    "LastSeen" DOUBLE PRECISION NOT NULL,
    "SensorId" TEXT NOT NULL,
    "Site" TEXT NOT NULL,
    "Confidence" DOUBLE PRECISION,
    "ReportedAt" DOUBLE PRECISION NOT NULL  -- sensor's LastSeen of the applied record: newer wins
);
CREATE INDEX "DeviceInfo_Sensor" ON "DeviceInfo" ("SensorId");

CREATE TABLE "DeviceNetworkInfo" (
    "DeviceId" TEXT NOT NULL,
    "Kind" TEXT NOT NULL,                   -- address, vlan, protocol, service
    "Value" TEXT NOT NULL,                  -- the ip, the vlan, the protocol, "tcp/23"
    "IPAddress" TEXT,
    "Vlan" BIGINT,
    "Protocol" TEXT,
    "Transport" TEXT,
    "Port" BIGINT,
    "ServiceName" TEXT,
    "Banner" TEXT,
    "FirstSeen" DOUBLE PRECISION NOT NULL,
    "LastSeen" DOUBLE PRECISION NOT NULL,
    "SensorId" TEXT NOT NULL,
    "Site" TEXT NOT NULL,
    PRIMARY KEY ("DeviceId", "Kind", "Value")
);

CREATE TABLE "Alerts" (
    "AlertId" TEXT PRIMARY KEY,             -- <SensorId>/<dedup key>
    "SensorId" TEXT NOT NULL,
    "Site" TEXT NOT NULL,
    "RuleId" TEXT NOT NULL,
    "Title" TEXT NOT NULL,
    "Severity" TEXT NOT NULL,
    "Status" TEXT NOT NULL,
    "AttackTechnique" TEXT NOT NULL,
    "DeviceId" TEXT,                        -- the first device (the source)
    "DeviceIds" TEXT NOT NULL,              -- JSON list
    "FirstSeen" DOUBLE PRECISION NOT NULL,
    "LastSeen" DOUBLE PRECISION NOT NULL,
    "Count" BIGINT NOT NULL,
    "Evidence" TEXT NOT NULL                -- JSON
);
CREATE INDEX "Alerts_Device" ON "Alerts" ("DeviceId");

CREATE TABLE "Recommendations" (
    "RecommendationId" TEXT PRIMARY KEY,    -- <SensorId>/<dedup key>
    "SensorId" TEXT NOT NULL,
    "Site" TEXT NOT NULL,
    "DeviceId" TEXT,
    "RuleId" TEXT NOT NULL,
    "Title" TEXT NOT NULL,
    "Severity" TEXT NOT NULL,
    "Status" TEXT NOT NULL,
    "FirstSeen" DOUBLE PRECISION NOT NULL,
    "LastSeen" DOUBLE PRECISION NOT NULL,
    "Count" BIGINT NOT NULL,
    "Evidence" TEXT NOT NULL
);
CREATE INDEX "Recommendations_Device" ON "Recommendations" ("DeviceId");

CREATE TABLE "Cves" (
    "CveId" TEXT PRIMARY KEY,
    "Published" TEXT,
    "LastModified" TEXT,
    "Description" TEXT,
    "CvssScore" DOUBLE PRECISION,
    "VulnerabilitySeverityLevel" TEXT,
    "IsKnownExploited" INTEGER NOT NULL DEFAULT 0,
    "Configurations" TEXT NOT NULL          -- the record's "configurations", JSON
);

CREATE TABLE "CveProducts" (                -- (vendor, product) of every vulnerable criterion
    "Vendor" TEXT NOT NULL,
    "Product" TEXT NOT NULL,
    "CveId" TEXT NOT NULL,
    PRIMARY KEY ("Vendor", "Product", "CveId")
);

CREATE TABLE "DeviceTvmSoftwareVulnerabilities" (
    "DeviceId" TEXT NOT NULL,
    "CveId" TEXT NOT NULL,
    "SensorId" TEXT NOT NULL,
    "Site" TEXT NOT NULL,
    "VulnerabilitySeverityLevel" TEXT,
    "CvssScore" DOUBLE PRECISION,
    "IsKnownExploited" INTEGER NOT NULL,
    "MatchedCpe" TEXT NOT NULL,             -- the vulnerable criterion of the NVD record
    "DeviceCpe" TEXT NOT NULL,              -- the device's candidate CPE that matched it
    "Evidence" TEXT NOT NULL,               -- JSON: vendor, model, firmware, mapping used
    "MatchedAt" DOUBLE PRECISION NOT NULL,
    PRIMARY KEY ("DeviceId", "CveId")
);
CREATE INDEX "Tvm_Cve" ON "DeviceTvmSoftwareVulnerabilities" ("CveId");
