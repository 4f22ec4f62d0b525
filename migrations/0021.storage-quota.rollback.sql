DROP INDEX source_materials_tenant_idx;
DROP INDEX source_materials_sha256_idx;
ALTER TABLE source_materials DROP COLUMN sha256;
DROP TABLE storage_reservations;
ALTER TABLE tenants DROP COLUMN storage_quota_bytes;
