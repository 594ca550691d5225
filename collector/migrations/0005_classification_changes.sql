-- Every classification change a sensor reports (the classifier's FieldChange events: a field
-- set, changed by stronger evidence, or withdrawn when contested), one row per change.
CREATE TABLE "DeviceClassificationChanges" (
    "DeviceId" TEXT NOT NULL,               -- <SensorId>/<device key>
    "SensorId" TEXT NOT NULL,
    "Site" TEXT NOT NULL,
    "Field" TEXT NOT NULL,                  -- category, type, subtype, vendor, model, firmware, os
    "Before" TEXT,                          -- NULL: it was unclassified
    "After" TEXT,                           -- NULL: withdrawn (a rival as strong contests it)
    "Confidence" DOUBLE PRECISION NOT NULL,
    "Evidence" TEXT NOT NULL,               -- JSON list of evidence lines
    "ChangedAt" DOUBLE PRECISION NOT NULL   -- sensor time of the packet that changed it
);
CREATE INDEX "DeviceClassificationChanges_Device" ON "DeviceClassificationChanges" ("DeviceId", "ChangedAt");
CREATE INDEX "DeviceClassificationChanges_At" ON "DeviceClassificationChanges" ("ChangedAt");
