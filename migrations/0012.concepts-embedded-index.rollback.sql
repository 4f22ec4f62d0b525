DROP INDEX concepts_embedded_idx;
