-- Analysts' verdicts on shown recommendations: "makes sense" or "doesn't" for one recommended item, either in a
-- customer's list (kind 'user', subject = customers.id) or among a product's neighbours (kind 'product', subject =
-- products.id), with the model version that showed it and an optional note. One current verdict per account, subject
-- and item: changing your mind updates the row. Replayed against every candidate before it is promoted.
create table verdicts (
    id            bigint generated always as identity primary key,
    account       text not null,
    kind          text not null check (kind in ('user', 'product')),
    subject_id    bigint not null,
    item_id       bigint not null references products (id),
    model_version text,
    verdict       text not null check (verdict in ('makes-sense', 'doesnt-make-sense')),
    note          text check (char_length(note) <= 500),
    created_at    timestamptz not null,
    updated_at    timestamptz not null,
    unique (account, kind, subject_id, item_id)
);
create index verdicts_updated_idx on verdicts (updated_at desc);
create index verdicts_subject_idx on verdicts (kind, subject_id);
