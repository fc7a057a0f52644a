-- Who did what, when, with which parameters, and how it ended: imports, training runs, promotions,
-- cancellations, cache refreshes (and, with sign-in, changes to users and keys).
create table audit_log (
    id          bigint generated always as identity primary key,
    at          timestamptz not null default now(),
    actor       text not null,
    action      text not null,
    target      text,
    parameters  jsonb not null default '{}'::jsonb,
    outcome     text,
    finished_at timestamptz
);
create index audit_log_at_idx on audit_log (at desc);
create index audit_log_action_idx on audit_log (action, at desc);
