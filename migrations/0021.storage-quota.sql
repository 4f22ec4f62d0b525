-- depends: 0020.material-sections
-- What a tenant stores, bounded: a quota per tenant (NULL: the STORAGE_QUOTA_BYTES setting;
-- 0: unlimited), the bytes uploads still in flight have reserved (so concurrent uploads cannot
-- pass the quota together; a reservation a dead process left lapses at expires_at), and each
-- stored file's SHA-256 (the same content twice in one course is refused unless asked for).
ALTER TABLE tenants ADD COLUMN storage_quota_bytes bigint CHECK (storage_quota_bytes >= 0);
CREATE TABLE storage_reservations (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    bytes       bigint NOT NULL CHECK (bytes > 0),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX storage_reservations_tenant_idx ON storage_reservations (tenant_id, expires_at);
ALTER TABLE source_materials ADD COLUMN sha256 text CHECK (sha256 ~ '^[0-9a-f]{64}$');
CREATE INDEX source_materials_sha256_idx ON source_materials (course_id, sha256) WHERE sha256 IS NOT NULL;
-- a tenant's usage summed from its materials alone, not from every tenant's
CREATE INDEX source_materials_tenant_idx ON source_materials (tenant_id, course_id) INCLUDE (size_bytes, status);
