-- The construction company's tables, PostgreSQL flavour: what the center's
-- web application writes. Native types on purpose (uuid, timestamptz,
-- numeric money, bigint, boolean, jsonb, date): xchg carries each exactly,
-- and the SQLite desktops (schema.sql) store the closest natural form.
-- `xchg init` adds uuid, updated_at and is_deleted where they are missing.

CREATE TABLE brigades (
	id BIGSERIAL PRIMARY KEY,
	name TEXT NOT NULL,
	foreman TEXT,
	headcount BIGINT,
	active BOOLEAN
);

CREATE TABLE estimates (
	id BIGSERIAL PRIMARY KEY,
	number TEXT NOT NULL,
	title TEXT,
	site TEXT, -- the site office whose desktop receives it; NULL: every office
	total NUMERIC(18, 2)
);

CREATE TABLE works (
	id BIGSERIAL PRIMARY KEY,
	estimate_uuid UUID,
	site TEXT,
	estimate_id BIGINT REFERENCES estimates(id), -- a local id: travels as the estimate's uuid
	code TEXT,
	name TEXT NOT NULL,
	unit TEXT,
	quantity DOUBLE PRECISION,
	price NUMERIC(18, 2)
);

CREATE TABLE work_specifications (
	id BIGSERIAL PRIMARY KEY,
	work_uuid UUID,
	material TEXT NOT NULL,
	quantity DOUBLE PRECISION,
	unit TEXT
);

CREATE TABLE daily_reports (
	id BIGSERIAL PRIMARY KEY,
	report_date DATE NOT NULL,
	site TEXT,
	brigade_id BIGINT REFERENCES brigades(id),
	brigade_uuid UUID,
	author TEXT,
	notes TEXT,
	submitted_at TIMESTAMPTZ,
	weather JSONB
);

CREATE TABLE daily_report_lines (
	id BIGSERIAL PRIMARY KEY,
	report_uuid UUID,
	work_uuid UUID,
	work_id BIGINT REFERENCES works(id),
	volume DOUBLE PRECISION,
	hours DOUBLE PRECISION,
	comment TEXT
);
