-- Online experiments: a campaign's users split between its version (control) and a challenger by a stable hash of
-- (user, experiment). At most one running experiment per campaign, enforced here rather than in code.
create table experiments (
    id                 bigint generated always as identity primary key,
    campaign           text not null references campaigns (name),
    control_version    text not null references model_versions (version),
    challenger_version text not null references model_versions (version),
    challenger_share   integer not null check (challenger_share between 1 and 99),
    status             text not null check (status in ('running', 'stopped')),
    started_at         timestamptz not null,
    started_by         text not null,
    stopped_at         timestamptz,
    outcome            text,
    check (control_version <> challenger_version)
);
create unique index experiments_one_running_per_campaign on experiments (campaign) where status = 'running';

-- Every answer the API gives (its recommendation id): who, which campaign, version and arm, the products shown and
-- when. One narrow row per answer, written in batches and pruned after Experiments:RetentionDays (rows of a running
-- experiment are kept). user_id is the caller's id as given: answers go to users the database does not know yet.
create table recommendation_log (
    id            uuid primary key,
    created_at    timestamptz not null,
    user_id       text,
    campaign      text not null,
    model_version text,
    experiment_id bigint,
    arm           smallint,
    items         bigint[] not null
);
create index recommendation_log_created_idx on recommendation_log (created_at);
create index recommendation_log_experiment_idx on recommendation_log (experiment_id, user_id, created_at) where experiment_id is not null;

-- Events that name the answer they came from: attribution looks them up by it.
create index interactions_recommendation_idx on interactions ((attributes->>'recommendation_id')) where attributes ? 'recommendation_id';
