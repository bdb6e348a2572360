-- ward's central decision store in PostgreSQL (docs/fleet.md), schema version 1.
-- Idempotent: `ward logs ship` and `ward audit verify --db` run it on connect.
-- Every table is keyed by host_id (the shipping machine: `--host`, default
-- its hostname); decisions keep the local id, so (host_id, id) is the
-- primary key that makes a re-sent batch a no-op. Columns named like the
-- local SQLite log (docs/audit.md) carry the same values, so a host's chain
-- verifies here byte for byte as it does locally.
CREATE SCHEMA IF NOT EXISTS ward;

CREATE TABLE IF NOT EXISTS ward.meta (
	key   text PRIMARY KEY,
	value text NOT NULL
);
INSERT INTO ward.meta (key, value) VALUES ('schema_version', '1') ON CONFLICT DO NOTHING;

-- one row per shipping machine: where its shipped prefix ends and where its
-- chain starts (the local prune checkpoint), and the policy bundle it runs
CREATE TABLE IF NOT EXISTS ward.hosts (
	host_id        text PRIMARY KEY,
	first_seen     timestamptz NOT NULL DEFAULT now(),
	last_ship      timestamptz,
	shipped_id     bigint NOT NULL DEFAULT 0,  -- every id <= this is here
	shipped_hash   text,                       -- the chain hash of row shipped_id
	ckpt_id        bigint,                     -- local chain_checkpoint_id (prune)
	ckpt_hash      text,                       -- local chain_checkpoint_hash
	bundle_version bigint,                     -- the applied signed policy bundle
	bundle_sha256  text,
	bundle_applied timestamptz
);

CREATE TABLE IF NOT EXISTS ward.decisions (
	host_id       text   NOT NULL,
	id            bigint NOT NULL,
	ts_ns         bigint NOT NULL,
	sandbox       text,
	layer         text   NOT NULL,
	action        text   NOT NULL,
	"binary"      text,  -- quoted: BINARY is reserved in PostgreSQL
	binary_sha256 text,
	pid           bigint,
	host          text,    -- the destination host name, as in the local log
	ip            text,
	port          bigint,
	protocol      text,
	method        text,
	path          text,
	rule          text,
	reason        text,
	policy_rev    text,
	hash          text   NOT NULL,
	session       text,
	via           text,
	uid           bigint,
	cgroup        text,
	PRIMARY KEY (host_id, id)
);
CREATE INDEX IF NOT EXISTS decisions_ts ON ward.decisions (ts_ns);
CREATE INDEX IF NOT EXISTS decisions_layer_action ON ward.decisions (layer, action);
CREATE INDEX IF NOT EXISTS decisions_sandbox ON ward.decisions (host_id, sandbox);

CREATE TABLE IF NOT EXISTS ward.policies (
	host_id   text   NOT NULL,
	rev       text   NOT NULL,
	source    text   NOT NULL,
	compiled  text   NOT NULL,
	loaded_at bigint NOT NULL,
	PRIMARY KEY (host_id, rev)
);

CREATE TABLE IF NOT EXISTS ward.binaries (
	host_id    text NOT NULL,
	path       text NOT NULL,
	sha256     text,
	first_seen bigint,
	PRIMARY KEY (host_id, path)
);
