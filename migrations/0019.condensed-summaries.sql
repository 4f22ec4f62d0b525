-- depends: 0018.embed-concepts-jobs
-- A material's condensed summary, kept per what made it (its content, the condensing prompt's
-- version, the model chain and the summary's size): a later run over the same material reuses
-- it instead of paying for it again. Gone with its material.
CREATE TABLE condensed_summaries (
    tenant_id        uuid NOT NULL,
    material_id      uuid NOT NULL,
    key              text NOT NULL,
    block            text NOT NULL,
    dropped_anchors  integer NOT NULL DEFAULT 0 CHECK (dropped_anchors >= 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (material_id, key),
    FOREIGN KEY (material_id, tenant_id) REFERENCES source_materials (id, tenant_id) ON DELETE CASCADE
);
