DROP TABLE material_uploads;
