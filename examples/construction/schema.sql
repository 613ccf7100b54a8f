-- The construction company's tables, SQLite flavour: what the desktop
-- application writes. The synchronization columns (uuid, updated_at,
-- is_deleted) are left out on purpose: `xchg init` adds them.
-- References between synchronized tables use uuids, because local ids
-- differ from node to node and never travel.

CREATE TABLE brigades (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL,
	foreman TEXT,
	headcount INTEGER,
	active BOOLEAN -- 1 or 0; a boolean at a PostgreSQL center
);

CREATE TABLE estimates (
	id INTEGER PRIMARY KEY,
	number TEXT NOT NULL,
	title TEXT,
	site TEXT, -- the site office whose desktop receives it; NULL: every office
	total TEXT -- money as exact decimal text, e.g. '12345678901234.56'
);

CREATE TABLE works (
	id INTEGER PRIMARY KEY,
	estimate_uuid TEXT,
	site TEXT,
	estimate_id INTEGER REFERENCES estimates(id), -- a local id: travels as the estimate's uuid
	code TEXT,
	name TEXT NOT NULL,
	unit TEXT,
	quantity REAL,
	price TEXT
);

CREATE TABLE work_specifications (
	id INTEGER PRIMARY KEY,
	work_uuid TEXT,
	material TEXT NOT NULL,
	quantity REAL,
	unit TEXT
);

CREATE TABLE daily_reports (
	id INTEGER PRIMARY KEY,
	report_date TEXT NOT NULL,
	site TEXT,
	brigade_id INTEGER REFERENCES brigades(id),
	brigade_uuid TEXT,
	author TEXT,
	notes TEXT,
	submitted_at TEXT, -- ISO-8601 UTC; a timestamptz at a PostgreSQL center
	weather TEXT       -- JSON text; jsonb at a PostgreSQL center
);

CREATE TABLE daily_report_lines (
	id INTEGER PRIMARY KEY,
	report_uuid TEXT,
	work_uuid TEXT,
	work_id INTEGER REFERENCES works(id),
	volume REAL,
	hours REAL,
	comment TEXT
);
