-- The champion's health, checked daily (and on demand): data drift and replayed NDCG since its training data ended.
-- One row per check, the whole report as JSON, so the pages can show the latest and the last few days; rows older
-- than Drift:KeepDays are pruned by the check.
create table model_health_checks (
    id            bigint generated always as identity primary key,
    checked_at    timestamptz not null,
    model_version text not null references model_versions (version),
    status        text not null,
    report        jsonb not null
);
create index model_health_checks_checked_idx on model_health_checks (checked_at desc);
