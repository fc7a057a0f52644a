-- Campaigns served by a remote AWS Personalize campaign (Engine:Remote:<campaign>): each fetch of its lists into the
-- cache, with the ARN asked, the sample used, and how it ended (a failure's message is shown on the campaign).
create table remote_fetches (
    id              bigint generated always as identity primary key,
    campaign        text not null,
    campaign_arn    text not null,
    sample_per_region integer not null default 0,
    sample_seed     integer not null default 1,
    status          text not null check (status in ('running', 'succeeded', 'failed')),
    error           text,
    keys_total      integer not null default 0,
    keys_fetched    integer not null default 0,
    started_at      timestamptz not null,
    finished_at     timestamptz
);
create index remote_fetches_campaign_idx on remote_fetches (campaign, id desc);

-- Lists fetched so far by an unfinished fetch (user or product id → its list in cache format): a fetch that failed
-- part way resumes from here instead of asking again; the cache is written from these rows in one transaction.
create table remote_fetch_pages (
    fetch_id bigint not null references remote_fetches (id) on delete cascade,
    key_id   bigint not null,
    list     jsonb not null,
    primary key (fetch_id, key_id)
);
