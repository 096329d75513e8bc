-- A run journal of schema 1, made by clerk-migrate at commit d290724 (before run markers and
-- instance ids): a real import of users_v1.json into the sandbox (seed 3; ck000003 already there,
-- user7's email held by another user), then verify --all; rows 11 and 12 then set as a killed
-- session leaves them (11 creating with its answer lost, 12 not sent). Dumped with sqlite3's
-- iterdump, which leaves PRAGMA user_version out: schema 1 set it to 1 (last line).
BEGIN TRANSACTION;
CREATE TABLE events (
    id      INTEGER PRIMARY KEY,
    at      REAL NOT NULL,
    kind    TEXT NOT NULL,
    message TEXT NOT NULL
);
INSERT INTO "events" VALUES(1,1.79636092616519427297e+09,'created','run created for /tmp/v1gen/out/users.json against http://127.0.0.1:42117 (sk_live_…3C9U)');
INSERT INTO "events" VALUES(2,1.7963609261661939621e+09,'loaded','12 rows: 11 to send, 1 refused');
INSERT INTO "events" VALUES(3,1.79636092619898772235e+09,'import','import started: 11 row(s) to settle');
INSERT INTO "events" VALUES(4,1.79636092647674536701e+09,'end','import done: 9 created, 1 existed, 1 failed, 13 requests, 0 rate limited');
INSERT INTO "events" VALUES(5,1.79636092651666355135e+09,'verify','verify (all): 10 checked, 9 matched, 1 mismatched, 0 missing; Clerk total 11, expected 10');
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT
);
INSERT INTO "meta" VALUES('verify_last','{"checked": 10, "matched": 9, "clerk_total": 11, "expected_total": 10, "seed": null, "sample": null, "mode": "all", "mismatched_users": 1, "mismatched_fields": 3, "missing_count": 0, "truncated": false, "existed_checked": 1, "undone": 0, "complete": true, "requests": 2, "rate_limited": 0, "duration_s": 0.037, "ok": false, "report": "/tmp/v1gen/out/run/verify.json", "message": null, "verify_id": 1, "at": 1796360926.4789789, "exit_code": 1}');
CREATE TABLE rows (
    row_no        INTEGER PRIMARY KEY,
    external_id   TEXT,
    email         TEXT,
    export_email  TEXT,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'creating', 'created', 'existed', 'failed', 'refused')),
    clerk_user_id TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    uncertain     INTEGER NOT NULL DEFAULT 0,
    error_code    TEXT,
    error_param   TEXT,
    error_message TEXT,
    refusal_codes TEXT,
    warning_codes TEXT,
    fix_json      TEXT,
    updated_at    REAL NOT NULL
);
INSERT INTO "rows" VALUES(1,'ck000001','user1@example.test','user1@example.test','created','user_GiCuUPjvVqM768aljfXs2sJNlkr',1,0,NULL,NULL,NULL,NULL,NULL,NULL,1.79636092624881839752e+09);
INSERT INTO "rows" VALUES(2,'ck000002','user2@example.test','user2@example.test','created','user_JZLfemRdPVjiseXexB5h2emLfOv',1,0,NULL,NULL,NULL,NULL,NULL,NULL,1.79636092624915170664e+09);
INSERT INTO "rows" VALUES(3,'ck000003','user3@example.test','user3@example.test','existed','user_Nyx6UOBSKeqi2KSqPKY64eGDeax',1,0,NULL,NULL,NULL,NULL,NULL,NULL,1.79636092647549438475e+09);
INSERT INTO "rows" VALUES(4,'ck000004','user4@example.test','user4@example.test','created','user_cqMt1UemQPzUCgAAvZWT6xoJIRx',1,0,NULL,NULL,NULL,NULL,NULL,NULL,1.79636092626923036573e+09);
INSERT INTO "rows" VALUES(5,'ck000005','not-an-email-5','not-an-email-5','refused',NULL,0,0,'email_invalid',NULL,'"not-an-email-5" is not an email address Clerk accepts','email_invalid',NULL,NULL,1.7963609261658196449e+09);
INSERT INTO "rows" VALUES(6,'ck000006','user6@example.test','user6@example.test','created','user_ygCBrqwr6EKWo8llBUcvBdr1ZP2',1,0,NULL,NULL,NULL,NULL,NULL,NULL,1.79636092628937721251e+09);
INSERT INTO "rows" VALUES(7,'ck000007','user7@example.test','user7@example.test','failed',NULL,1,0,'form_identifier_exists','email_address','the email user7@example.test belongs to Clerk user user_DqOyJ4qyCimZSf6BZ5v3Ujsengc (external_id ''other-7''), not to this row',NULL,NULL,NULL,1.79636092647549438475e+09);
INSERT INTO "rows" VALUES(8,'ck000008','user8@example.test','user8@example.test','created','user_JNfpiadlcUhmkpymKd996RGnONK',1,0,NULL,NULL,NULL,NULL,NULL,NULL,1.79636092632869529724e+09);
INSERT INTO "rows" VALUES(9,'ck000009','user9@example.test','user9@example.test','created','user_1HUmAEI5sgJ5NMOkvFNdrgNSDNv',1,0,NULL,NULL,NULL,NULL,NULL,NULL,1.79636092635073399545e+09);
INSERT INTO "rows" VALUES(10,'ck000010','user10@example.test','user10@example.test','created','user_fSITEINXHLyrvSpWybzZYRPYvVj',1,0,NULL,NULL,NULL,NULL,NULL,NULL,1.79636092636928081513e+09);
INSERT INTO "rows" VALUES(11,'ck000011','user11@example.test','user11@example.test','creating',NULL,2,1,NULL,NULL,NULL,NULL,NULL,NULL,1.79636092638868856427e+09);
INSERT INTO "rows" VALUES(12,'ck000012','user12@example.test','user12@example.test','pending',NULL,1,0,NULL,NULL,NULL,NULL,NULL,NULL,1.79636092640991234777e+09);
CREATE TABLE run (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    schema_version   INTEGER NOT NULL,
    export_path      TEXT NOT NULL,
    export_sha256    TEXT,
    export_size      INTEGER,
    export_format    TEXT,
    export_shape     TEXT,
    mapping_json     TEXT,
    instance_kind    TEXT,
    base_url         TEXT NOT NULL,
    key_fingerprint  TEXT NOT NULL,
    key_masked       TEXT NOT NULL,
    policies_json    TEXT NOT NULL,
    settings_json    TEXT NOT NULL,
    rows_loaded      INTEGER NOT NULL DEFAULT 0,
    file_issues_json TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
INSERT INTO "run" VALUES(1,1,'/tmp/v1gen/out/users.json','6376d86670485688a02ce9387152de251aed532a8c0ed433a3bf820b7f66612f',1963,'json','prisma',NULL,'production','http://127.0.0.1:42117','5e41d8b0dd04ded4','sk_live_…3C9U','{"plaintext_password": "refuse", "unverified_email": "verified"}','{"allow_dev_import": false}',1,'[]','2026-12-04T05:08:46+00:00','2026-12-04T05:08:46+00:00');
CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL,
    started_at   REAL NOT NULL,
    ended_at     REAL,
    requests     INTEGER NOT NULL DEFAULT 0,
    rate_limited INTEGER NOT NULL DEFAULT 0,
    created      INTEGER NOT NULL DEFAULT 0,
    existed      INTEGER NOT NULL DEFAULT 0,
    failed       INTEGER NOT NULL DEFAULT 0,
    outcome      TEXT
);
INSERT INTO "sessions" VALUES(1,'import',1.79636092619886898998e+09,1.79636092647663211819e+09,13,0,9,1,1,'done');
CREATE TABLE verify_results (
        verify_id INTEGER NOT NULL,
        row_no INTEGER NOT NULL,
        external_id TEXT,
        clerk_user_id TEXT,
        status TEXT,
        kind TEXT NOT NULL CHECK (kind IN ('mismatch', 'missing')),
        field TEXT,
        expected TEXT,
        found TEXT
    );
INSERT INTO "verify_results" VALUES(1,3,'ck000003','user_Nyx6UOBSKeqi2KSqPKY64eGDeax','existed','mismatch','first_name','First3',NULL);
INSERT INTO "verify_results" VALUES(1,3,'ck000003','user_Nyx6UOBSKeqi2KSqPKY64eGDeax','existed','mismatch','last_name','Last3',NULL);
INSERT INTO "verify_results" VALUES(1,3,'ck000003','user_Nyx6UOBSKeqi2KSqPKY64eGDeax','existed','mismatch','created_at','2022-05-06T07:08:09.000Z','2026-12-04T05:08:46.159Z');
CREATE TABLE verify_runs (
        id INTEGER PRIMARY KEY,
        started_at REAL NOT NULL,
        ended_at REAL,
        mode TEXT NOT NULL,
        sample INTEGER,
        seed INTEGER,
        checked INTEGER NOT NULL DEFAULT 0,
        matched INTEGER NOT NULL DEFAULT 0,
        mismatched_users INTEGER NOT NULL DEFAULT 0,
        mismatched_fields INTEGER NOT NULL DEFAULT 0,
        missing INTEGER NOT NULL DEFAULT 0,
        clerk_total INTEGER,
        expected_total INTEGER,
        requests INTEGER NOT NULL DEFAULT 0,
        complete INTEGER NOT NULL DEFAULT 0,
        exit_code INTEGER
    );
INSERT INTO "verify_runs" VALUES(1,1.79636092647897887232e+09,1.79636092651634883881e+09,'all',NULL,NULL,10,9,1,3,0,11,10,2,1,1);
CREATE INDEX rows_by_status ON rows(status, row_no);
CREATE INDEX rows_by_external_id ON rows(external_id);
CREATE INDEX rows_by_code ON rows(error_code, row_no);
CREATE INDEX verify_results_by_run ON verify_results(verify_id, row_no);
COMMIT;
PRAGMA user_version = 1;
