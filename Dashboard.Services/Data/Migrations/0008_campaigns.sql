-- Campaigns, as Personalize has them: one served model per use. The user-recommendations campaign takes over the
-- champion of earlier versions (its version keeps status 'champion'); similar-items and personalized-ranking start
-- without a version of their own and serve the user-recommendations version until one is promoted to them.
create table campaigns (
    name          text primary key,
    model_version text references model_versions (version),
    updated_at    timestamptz not null default now()
);
insert into campaigns (name, model_version)
values ('user-recommendations', (select version from model_versions where status = 'champion')),
       ('similar-items', null),
       ('personalized-ranking', null);
